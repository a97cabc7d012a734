"""Ways in: email, the public web form and logged phone calls become tickets; spam waits aside.

Every channel goes through :func:`core.intake.arrivals.accept`: the spam check first, then
:func:`core.intake.registration.match_or_create_contact`, then a new ticket or a thread on the
ticket the message answers.
"""
