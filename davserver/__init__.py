"""davserver: a standalone WebDAV file server built on WsgiDAV and cheroot."""

__version__ = "0.1.0"
