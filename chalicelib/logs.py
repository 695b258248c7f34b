"""The service's logging: structured JSON through Powertools, under the logger named "oms".

Chalice names its app logger after the app ("oms"), gives it a stdout handler at
level ERROR and stops its propagation unless that logger already has a stdout
handler. Left alone, that would silence every "oms.*" logger below ERROR,
including the workers' Powertools child loggers. So the Powertools logger is
created first; Chalice then finds it configured and keeps it. A runner that set
up "oms" itself (the local stack prints human-readable lines) is left as it is.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger

SERVICE = "oms"


def configure_service_logging() -> None:
    if logging.getLogger(SERVICE).handlers:
        return
    # Level from POWERTOOLS_LOG_LEVEL / LOG_LEVEL, INFO by default.
    Logger(service=SERVICE)
