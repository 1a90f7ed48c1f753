"""The share in a browser: the listing and error pages, its forms and their CSRF token."""
