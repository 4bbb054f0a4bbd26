"""What one agency sees of personal fields (个人信息查阅): in clear or masked, as the directory says.

Every read surface (the gateway, webhooks, the CLI) hands what it is about to return or send to
`PersonalView.for_agency`: sealed values are opened in clear for an agency the directory's
``personal_data`` section names (`Directory.sees_personal`), and the read goes to the read log;
every other agency gets them masked (not logged: nothing personal is shown). The caller has already
checked that the agency may read the case at all (authz.py). Without a key store (personal data
protection off) sealed values show as ``***`` and clear values pass as they are.
"""

from __future__ import annotations

from typing import Any

from fengqiao.streams.personal.reveal import Reader, Revealer


class PersonalView:
    def __init__(self, revealer: Revealer | None, directory: Any) -> None:
        self.revealer = revealer or Revealer(None)
        self.directory = directory

    def clear_for(self, agency: str) -> bool:
        return self.directory is not None and self.directory.sees_personal(agency)

    def for_agency(self, obj: Any, agency: str, entry: str, *, key_id: str = "", case_id: str = "") -> Any:
        """A copy of ``obj`` as ``agency`` may see it (clear reads logged with ``entry``, ``key_id``)."""
        clear = self.clear_for(agency)
        return self.revealer.reveal(obj, Reader(agency, entry, key_id), clear=clear, case_id=case_id)
