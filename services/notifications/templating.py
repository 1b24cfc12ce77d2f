"""Message texts: Jinja2 templates in zh-CN and en, one file per message and language.

Each template defines a `subject` block and a `body` block (SMS sends the
body). Templates see only what the outbox stored for the message (the case
number, deadlines, the event's public fields) plus the service hotline:
never a name, a phone number or an address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("zh-CN", "en")

MILESTONES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "acceptance": "受理",
        "investigation": "初步调查",
        "result": "结果答复",
        "repair": "故障修复",
        "overall": "整体处理",
        "dispute": "异议答复",
        "appeal": "申诉答复",
        "follow_up": "督办答复",
    },
    "en": {
        "acceptance": "acceptance",
        "investigation": "preliminary investigation",
        "result": "result",
        "repair": "network repair",
        "overall": "overall handling",
        "dispute": "answer to the dispute",
        "appeal": "answer to the appeal",
        "follow_up": "answer to the follow-up demand",
    },
}


def _share(value: float | None) -> str:
    """A rate as a percentage, `—` when it has no denominator."""
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def _hours(value: float | None, language: str) -> str:
    """A duration in hours, `—` when there is none."""
    if value is None:
        return "—"
    return f"{float(value):.1f} 小时" if language == "zh-CN" else f"{float(value):.1f} h"


class RenderError(ValueError):
    """A template is missing or could not be rendered with the message's context."""


@dataclass(frozen=True)
class Rendered:
    """A message's text."""

    subject: str
    body: str


class Renderer:
    """Renders a template in a language, with times shown in one zone."""

    def __init__(
        self,
        directory: Path = TEMPLATE_DIR,
        timezone: str = "Asia/Shanghai",
        hotline: str = "10000",
    ) -> None:
        self.directory = directory
        self.zone = ZoneInfo(timezone)
        self.hotline = hotline
        self.environments = {language: self._environment(language) for language in LANGUAGES}

    def _environment(self, language: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(self.directory / language),
            undefined=StrictUndefined,
            autoescape=False,  # plain text, never HTML
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        env.filters["when"] = self._when
        env.filters["share"] = _share
        env.filters["hours"] = lambda value: _hours(value, language)
        names = MILESTONES[language]
        env.filters["milestone"] = lambda name: names.get(str(name), str(name))
        return env

    def _when(self, value: str | datetime | None) -> str:
        if value is None:
            return "—"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        local = moment.astimezone(self.zone)
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"

    def names(self) -> set[str]:
        """Templates present in every language."""
        per_language = [
            {path.stem for path in (self.directory / language).glob("*.j2")}
            for language in LANGUAGES
        ]
        return set.intersection(*per_language)

    def render(self, template: str, language: str, context: Mapping[str, Any]) -> Rendered:
        """The subject and body of `template` in `language` (zh-CN when unknown)."""
        env = self.environments.get(language) or self.environments["zh-CN"]
        try:
            compiled = env.get_template(f"{template}.j2")
            variables = {"hotline": self.hotline, **context}
            subject = "".join(compiled.blocks["subject"](compiled.new_context(variables)))
            body = "".join(compiled.blocks["body"](compiled.new_context(variables)))
        except (TemplateError, KeyError, ValueError) as exc:
            raise RenderError(f"template {template}/{language}: {type(exc).__name__}") from exc
        return Rendered(subject=" ".join(subject.split()), body=body.strip() + "\n")
