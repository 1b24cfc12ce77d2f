"""Each service's API documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc).

The pages work inside a closed network: Swagger UI and ReDoc come from npm
(`swagger-ui-dist` and `redoc`, pinned by version and integrity in
`docs_assets/package-lock.json`, installed by `make assets`) and are served
by the service itself with their licences, never from a CDN. The pages hold
no inline script, so they keep working under a strict Content-Security-Policy.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse

from services.kernel.problems import Problem

HERE = Path(__file__).resolve().parent / "docs_assets"
NODE = HERE / "node_modules"
SWAGGER = NODE / "swagger-ui-dist"
REDOC = NODE / "redoc"

ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (SWAGGER / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (SWAGGER / "swagger-ui.css", "text/css"),
    "favicon-32x32.png": (SWAGGER / "favicon-32x32.png", "image/png"),
    "swagger-ui-LICENSE.txt": (SWAGGER / "LICENSE", "text/plain"),
    "swagger-ui-NOTICE.txt": (SWAGGER / "NOTICE", "text/plain"),
    "swagger-ui-bundle.js.LICENSE.txt": (
        SWAGGER / "swagger-ui-bundle.js.LICENSE.txt",
        "text/plain",
    ),
    "redoc.standalone.js": (REDOC / "bundles" / "redoc.standalone.js", "text/javascript"),
    "redoc-LICENSE.txt": (REDOC / "LICENSE", "text/plain"),
    "redoc.standalone.js.LICENSE.txt": (
        REDOC / "bundles" / "redoc.standalone.js.LICENSE.txt",
        "text/plain",
    ),
    "swagger-init.js": (HERE / "swagger-init.js", "text/javascript"),
    "redoc-init.js": (HERE / "redoc-init.js", "text/javascript"),
    "docs.css": (HERE / "docs.css", "text/css"),
}

# Swagger UI sets inline styles and ReDoc injects <style> elements and runs its
# search index in a worker made from a blob: URL; nothing leaves the service.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def docs_public() -> None:
    """Marks the documentation pages and their assets as open to anyone."""


docs_public.allowed_roles = "public"  # type: ignore[attr-defined]

router = APIRouter(include_in_schema=False, dependencies=[Depends(docs_public)])


def _page(request: Request, title: str, style: str, scripts: list[str], element: str) -> str:
    root = request.scope.get("root_path", "").rstrip("/")
    assets = f"{root}/docs/assets"
    openapi_url = f"{root}{request.app.openapi_url}"
    tags = "\n".join(f'<script src="{assets}/{name}"></script>' for name in scripts)
    links = " · ".join(
        f'<a href="{assets}/{name}">{escape(label)}</a>'
        for label, name in (
            ("Swagger UI licence", "swagger-ui-LICENSE.txt"),
            ("ReDoc licence", "redoc-LICENSE.txt"),
            ("third-party notices", "swagger-ui-bundle.js.LICENSE.txt"),
        )
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(request.app.title)} – {escape(title)}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
{style}
<link rel="stylesheet" href="{assets}/docs.css">
</head>
<body data-openapi-url="{escape(openapi_url)}">
{element}
<footer class="docs-licences">{links}</footer>
{tags}
</body>
</html>
"""


def _html(body: str) -> HTMLResponse:
    return HTMLResponse(body, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: browse the operations, authorize with a bearer token, try them out."""
    style = f'<link rel="stylesheet" href="{request.scope.get("root_path", "").rstrip("/")}'
    style += '/docs/assets/swagger-ui.css">'
    scripts = ["swagger-ui-bundle.js", "swagger-init.js"]
    return _html(_page(request, "Swagger UI", style, scripts, '<div id="swagger-ui"></div>'))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the reference documentation of every operation and schema."""
    scripts = ["redoc.standalone.js", "redoc-init.js"]
    return _html(_page(request, "ReDoc", "", scripts, '<div id="redoc"></div>'))


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> FileResponse:
    """Swagger UI, ReDoc and their licences, as installed from npm."""
    found = ASSETS.get(name)
    if found is None:
        raise Problem(404, "Not Found", "No such asset.")
    path, media = found
    if not path.exists():
        raise Problem(
            503,
            "Service Unavailable",
            "The documentation assets are not installed: run `make assets` (npm ci).",
        )
    return FileResponse(path, media_type=media)


def install_api_docs(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` from the service's own assets."""
    app.include_router(router)
