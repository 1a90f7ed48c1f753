"""Drive a running LibreOffice over UNO: one JSON command per stdin line, one JSON answer
per stdout line.  Run with the system ``/usr/bin/python3`` (it has ``uno``); the test
starts ``soffice --accept=socket,host=127.0.0.1,port=N;urp;`` itself and owns its PID.

    /usr/bin/python3 lo_driver.py PORT

Commands (answers always carry ``ok``; failures carry ``error``):
  {"cmd": "open", "url": U, "user": N, "password": P}  -> {"readonly": bool, "interactions": [...]}
  {"cmd": "append", "text": T}                          -> {}
  {"cmd": "text"}                                       -> {"text": T}
  {"cmd": "store"}                                      -> {}   (ok false when store() raises)
  {"cmd": "close"}                                      -> {}
  {"cmd": "quit"}                                       -> {}   (the driver exits)

Credentials go through an interaction handler that answers LibreOffice's authentication
request without a dialog; every interaction request it sees is reported by ``open``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

import uno
import unohelper
from com.sun.star.task import XInteractionHandler


def prop(name, value):
    value_holder = uno.createUnoStruct("com.sun.star.beans.PropertyValue")
    value_holder.Name = name
    value_holder.Value = value
    return value_holder


class Handler(unohelper.Base, XInteractionHandler):
    """Supplies credentials; anything else is recorded and aborted (no dialogs)."""

    def __init__(self, user, password, seen):
        self.user = user
        self.password = password
        self.seen = seen

    def handle(self, request):
        what = request.getRequest()
        name = getattr(what, "typeName", type(what).__name__)
        continuations = request.getContinuations()
        self.seen.append(name)
        for continuation in continuations:
            if self.user is not None and hasattr(continuation, "setUserName"):
                continuation.setUserName(self.user)
                continuation.setPassword(self.password)
                if hasattr(continuation, "setRememberPassword"):
                    continuation.setRememberPassword(
                        uno.Enum("com.sun.star.ucb.RememberAuthentication", "NO")
                    )
                continuation.select()
                return
        for continuation in continuations:
            if hasattr(continuation, "select") and "Abort" in repr(continuation):
                continuation.select()
                return
        if continuations:
            continuations[-1].select()


def connect(port, timeout=60.0):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    url = f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext"
    deadline = time.monotonic() + timeout
    while True:
        try:
            context = resolver.resolve(url)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)


class Driver:
    def __init__(self, desktop):
        self.desktop = desktop
        self.doc = None
        self.seen = []

    def open(self, url, user=None, password=None):
        seen = self.seen = []
        handler = Handler(user, password, seen)
        # Type detection answers 401s only through "AuthenticationHandler" (MediaDescriptor).
        args = (prop("Hidden", True),)
        if user is not None:
            args += (prop("InteractionHandler", handler), prop("AuthenticationHandler", handler))
        self.doc = self.desktop.loadComponentFromURL(url, "_blank", 0, args)
        if self.doc is None:
            return {
                "ok": False,
                "error": "loadComponentFromURL returned None",
                "interactions": seen,
            }
        return {"readonly": bool(self.doc.isReadonly()), "interactions": seen}

    def append(self, text):
        body = self.doc.getText()
        body.insertString(body.getEnd(), text, False)
        return {}

    def text(self):
        return {"text": self.doc.getText().getString()}

    def store(self):
        self.doc.store()
        return {}

    def close(self):
        if self.doc is not None:
            self.doc.close(True)
            self.doc = None
        return {}


def main():
    desktop = connect(int(sys.argv[1]))
    driver = Driver(desktop)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        name = command.pop("cmd")
        try:
            answer = {} if name == "quit" else getattr(driver, name)(**command)
            answer.setdefault("ok", True)
        except Exception as exc:
            message = getattr(exc, "Message", "") or str(exc)
            answer = {
                "ok": False,
                "error": f"{type(exc).__name__}: {message}",
                "trace": traceback.format_exc(limit=3),
                "interactions": driver.seen,
            }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if name == "quit":
            return


if __name__ == "__main__":
    main()
