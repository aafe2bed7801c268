"""The HTTP edge: the only package that imports aiohttp.web (app factory, handlers, auth, TLS, listener)."""
