"""Project settings: every number of the six stages, with their defaults
(the table in docs/pipeline.md, "Settings")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import LongtailError
from ..text import clean as clean_text


@dataclass(frozen=True)
class ProjectSettings:
    """The rules a project's pipeline follows. Stored in the project, one row a field."""

    # stage 1: an image leaves spotting after this many "nothing new" answers (LVIS: 3)
    spot_done_after: int = 2
    # stage 4: verdicts gathered per segment (LVIS: ~5), and rejections that send it back
    verifiers_per_segment: int = 1
    reject_votes_to_redo: int = 1
    # stage 4: may an annotator verify a segment they drew themselves?
    allow_self_verification: bool = False
    # stages 4 and 5: the least role that may verify (annotator, verifier or admin; team
    # projects only, see pipeline/team/roles.py)
    verification_role: str = "verifier"
    # stage 6: verified-absent images each category should reach, where the data allows
    negatives_per_category: int = 50
    # stage 6: candidate categories offered per image per round
    negative_candidates_per_image: int = 5
    # stage 4: the quality bar a mask must reach (IoU with what the object really covers);
    # shown to verifiers as guidance, applied by the scripted verifiers of `simulate`
    verify_min_iou: float = 0.85
    # work items: seconds a claim is held before it returns to the queue
    lease_seconds: float = 600.0
    # the split that newly added images join
    default_split: str = "train"
    # training: share of images held out for evaluation when the project has no `val`
    # split (chosen by a stable hash of the image, so the split never moves)
    heldout_fraction: float = 0.1

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ProjectSettings:
        """Settings from stored values; unknown keys are ignored (written by a newer
        longtail that also bumped nothing in the schema), bad values are refused."""
        known = {f.name: f for f in fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        return cls().updated(**kwargs)

    def updated(self, **changes: Any) -> ProjectSettings:
        """A copy with ``changes`` applied, each checked against the field's type."""
        known = {f.name: f for f in fields(self)}
        checked = {}
        for name, value in changes.items():
            if name not in known:
                raise LongtailError(
                    f"unknown setting {name!r}; known settings: {', '.join(sorted(known))}"
                )
            default = getattr(ProjectSettings(), name)
            checked[name] = _coerce(name, value, type(default))
        new = replace(self, **checked)
        new._check()
        return new

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _check(self) -> None:
        positive = ("spot_done_after", "verifiers_per_segment", "reject_votes_to_redo")
        for name in positive:
            if getattr(self, name) < 1:
                raise LongtailError(f"setting {name} must be at least 1")
        if self.reject_votes_to_redo > self.verifiers_per_segment:
            raise LongtailError("setting reject_votes_to_redo cannot exceed verifiers_per_segment")
        if self.negatives_per_category < 0 or self.negative_candidates_per_image < 0:
            raise LongtailError("negative-label settings cannot be negative")
        if not 0.0 < self.verify_min_iou <= 1.0:
            raise LongtailError("setting verify_min_iou must be in (0, 1]")
        if self.lease_seconds <= 0:
            raise LongtailError("setting lease_seconds must be positive")
        # the one text policy (decision 0024): a split both backends hold
        clean_text("split", self.default_split, where="setting default_split")
        if self.verification_role not in ("annotator", "verifier", "admin"):
            raise LongtailError("setting verification_role must be annotator, verifier or admin")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise LongtailError("setting heldout_fraction must be in [0, 1)")


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise LongtailError(f"setting {name} must be true or false, got {value!r}")
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise LongtailError(f"setting {name} must be a {kind.__name__}, got {value!r}") from None
