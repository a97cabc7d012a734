"""The related-information tabs of contact and account pages that the host itself contributes.

Each module is one built-in plugin (``PLUGIN``): its panels at ``Location.CONTACT_SUBTAB`` and
``Location.ACCOUNT_SUBTAB``, through the same ``deskhost_panels`` hook and ``hostapi.Panel``
an extension uses (the Overview tab comes from the customer_insights extension that way).
Built-in tabs show to every agent, over what that agent may see; each reads the host's data
through the request's unit, as the host's own pages do.
"""
