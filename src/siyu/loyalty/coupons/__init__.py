"""Coupons: templates, issuing, unique codes, redemption (API and imported orders carrying the code), expiry."""
