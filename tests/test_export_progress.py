"""``export``'s progress lines reach stderr whole (issue 33: "labels agree 100.00%verified on").

print() writes a line's text and its newline in two writes; behind the stderr filter the text
could be passed on alone and the next stdout line run on after it.  Each line must be one
write that ends with its newline.
"""

from __future__ import annotations

from exermote_sgan.cli import export


class _Recorder:
    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append(text)
        return len(text)

    def flush(self):
        pass


def test_each_progress_line_is_one_write_ending_in_a_newline(monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(export.sys, "stderr", recorder)
    export._progress("wrote OK: Exermote.mlmodel ... labels agree 100.00%")
    export._progress("next")
    assert recorder.writes == ["export: wrote OK: Exermote.mlmodel ... labels agree 100.00%\n",
                               "export: next\n"]
