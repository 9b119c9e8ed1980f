"""Autosave and crash recovery in the dock (UI thread; the disk work runs in workers).

Each grounding is autosaved by its :class:`~.session.GroundingSession` (every edit on disk
before the edit returns). When the dock sees a study, it asks in a worker whether an
earlier session of that study ended without closing (a crash, a killed process); if so a
banner offers "Recover" (rebuild the findings, layers and steps as they were) or
"Discard" (set them aside). Closing the viewer, the dock or the study closes the
autosave cleanly (:mod:`.widget_lifecycle`), so that only an unexpected end is ever offered.
"""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)


def banner_text(info: Any, now: float | None = None) -> str:
    """"Unsaved edits from 14:05 (3 edits)" (the date too when not from today)."""
    now = time.time() if now is None else now
    fmt = "%H:%M" if time.localtime(info.updated)[:3] == time.localtime(now)[:3] else "%d %b %H:%M"
    when = time.strftime(fmt, time.localtime(info.updated))
    n = int(info.n_edits)
    edits = "no edits" if n == 0 else f"{n} edit{'s' if n != 1 else ''}"
    what = "Unsaved edits" if n else "Unsaved findings"
    return f"{what} from {when} ({edits}) of this study, left by a session that did not close."


class RecoveryHandlers:
    """Mixed into :class:`~napari_medground.napari.widget.GroundingWidget`."""

    # ------------------------------------------------------------------ looking
    def _check_recovery(self, lyr: Any) -> None:
        """Once per study layer: is there an unfinished autosave of it? (worker)"""
        key = id(lyr)
        if key in self._recovery_checked:
            return
        self._recovery_checked.add(key)
        s = self._pair_of(lyr)[0]
        self.recovery_checks += 1
        self.pool.start(s.find_recoverable, connect={
            "returned": lambda info: self._recovery_found(key, info),
            "errored": lambda exc: log.warning("looking for an autosave failed: %s", exc),
            "finished": self._recovery_check_done,
        })

    def _recovery_check_done(self) -> None:
        self.recovery_checks -= 1

    def _recovery_found(self, key: int, info: Any) -> None:
        pair = self.sessions.get(key)
        if info is None or pair is None or pair[0].grounding is not None:
            return  # nothing to offer, the study is gone, or a finding was run meanwhile
        self._recoverable[key] = info
        self._show_banner()

    def _show_banner(self) -> None:
        lyr = self.current_layer()
        info = self._recoverable.get(id(lyr)) if lyr is not None else None
        if info is not None:
            self.ui.banner_text.setText(banner_text(info))
        self.ui.banner.setVisible(info is not None)

    def _drop_offer(self, lyr: Any) -> Any:
        info = self._recoverable.pop(id(lyr), None) if lyr is not None else None
        self._show_banner()
        return info

    # ------------------------------------------------------------------ recover / discard
    def recover(self) -> None:
        """Rebuild the unsaved findings of the selected study (worker), then show them."""
        lyr, s = self.current_layer(), self.session()
        info = self._recoverable.get(id(lyr)) if lyr is not None else None
        if s is None or info is None:
            return
        self._start("recover", s.recover, info, on_done=lambda out: self._recovered(lyr, s, out, info))

    def _recovered(self, lyr: Any, s: Any, out: Any, info: Any) -> None:
        self._drop_offer(lyr)
        r = out.grounding.result
        s.adopt(out, str((r.query or {}).get("text", "")), live=False)
        ctl = self._controller_of(s)
        ctl.show(out.overlays, r)
        self._show_result(r)
        first = next((f for f in out.overlays.findings if f.centre is not None), None)
        if first is not None:
            ctl.jump_to_finding(first.name)
        window = self.auto_window(lyr, s.study, r)
        self._status(f"Recovered {info.n_edits} edit(s) from {time.strftime('%H:%M', time.localtime(info.updated))}"
                     + (f"; {window}" if window else "")
                     + ". Accept, reject, paint and export as before; steps after an edit are marked "
                     "stale, not re-run (run the finding again to recompute them).", color="#69db7c")

    def discard_recovery(self) -> None:
        """Set the unsaved findings aside (kept in the session folder's previous/)."""
        lyr, s = self.current_layer(), self.session()
        info = self._recoverable.get(id(lyr)) if lyr is not None else None
        if s is None or info is None:
            return
        self._start("discard", s.discard, info, on_done=lambda _out: self._discarded(lyr, info))

    def _discarded(self, lyr: Any, info: Any) -> None:
        self._drop_offer(lyr)
        self._status(f"Unsaved edits set aside (kept in {info.folder / 'previous'}).")
