"""Who is asking: Basic logins through a WsgiDAV domain controller, LDAP, proxy identity."""
