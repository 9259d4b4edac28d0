"""gunicorn reads this from the working folder: `gunicorn practice.wsgi`.

The access log names the path without its query string and with link tokens
replaced (practice/logsafe.py): searches and tokens are health data.
"""

from gunicorn.glogging import Logger

from practice.logsafe import redact_path


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # Every atom, not only the ones our format uses: someone may change the format.
        redacted = {key: redact_path(value) if isinstance(value, str) else value for key, value in atoms.items()}
        for key in ("q", "{query_string}e"):
            if atoms.get(key):
                redacted[key] = "[query]"
        return redacted


logger_class = RedactingLogger
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
