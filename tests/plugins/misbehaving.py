"""Checks that misbehave on purpose, to prove the Auditor isolates them. Registered by tests only."""

from __future__ import annotations

import os
import signal

from genaudit.checks.base import Check
from genaudit.io import LoadedImage
from genaudit.results import CheckResult

RAISE_WIDTH = 13
CRASH_WIDTH = 17


class RaisingCheck(Check):
    """Raises on images exactly RAISE_WIDTH pixels wide."""

    name = "raising"

    def run(self, image: LoadedImage) -> CheckResult:
        if image.width == RAISE_WIDTH:
            raise ValueError("boom on purpose")
        return CheckResult.ok(self.name, {"width": image.width})


class CrashingCheck(Check):
    """Kills its own process (like a segfaulting decoder) on images exactly CRASH_WIDTH wide."""

    name = "crashing"

    def run(self, image: LoadedImage) -> CheckResult:
        if image.width == CRASH_WIDTH:
            os.kill(os.getpid(), signal.SIGKILL)
        return CheckResult.ok(self.name, {"width": image.width})


class BadResultCheck(Check):
    """Returns something that is not JSON-serialisable."""

    name = "badresult"

    def run(self, image: LoadedImage) -> CheckResult:
        return CheckResult.ok(self.name, {"value": object()})


class PixelsAnywayCheck(Check):
    """Claims to read bytes only, then reads the pixels."""

    name = "pixelsanyway"
    needs_pixels = False

    def run(self, image: LoadedImage) -> CheckResult:
        return CheckResult.ok(self.name, {"mean": float(image.array.mean())})


DIE_ONCE_WIDTH = 19


class DiesOnceCheck(Check):
    """Kills its own process the first time it sees an image DIE_ONCE_WIDTH wide (a worker lost
    mid-scan to the OOM killer or a preempted machine, not to the file); leaves a marker beside the
    image folder so that the retry, in another process, goes through."""

    name = "diesonce"

    def run(self, image: LoadedImage) -> CheckResult:
        if image.width == DIE_ONCE_WIDTH and image.path:
            marker = os.path.join(os.path.dirname(os.path.dirname(image.path)), "died-" + os.path.basename(image.path))
            if not os.path.exists(marker):
                with open(marker, "w") as fh:
                    fh.write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return CheckResult.ok(self.name, {"width": image.width})
