"""The weekly digest: what happened to the channels a reader follows, with a chart.

``DigestService`` (in ``bot.digest.service``) schedules and runs it; the content is
built in ``bot.digest.builder`` and the chart drawn in ``bot.digest.chart``.
"""

from bot.digest.builder import Period
from bot.digest.service import JOB_ID, DigestService

__all__ = ["JOB_ID", "DigestService", "Period"]
