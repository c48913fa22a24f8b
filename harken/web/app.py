"""``create_app``: the workspace as one ASGI app (``harken web`` serves it with uvicorn)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from harken.config import Config
from harken.errors import HarkenError
from harken.platforms.meta.hooks import MetaHooks
from harken.store import Store
from harken.web import api, boards, hooks, live, pages, replying, sso
from harken.web.render import STATIC, page
from harken.web.security import CatchAll, SecurityHeaders, SignInLimit
from harken.web.session import NoToken, SignInNeeded, status_of


def create_app(config: Config, store: Store) -> FastAPI:
    # No interactive API docs: their page needs inline scripts the CSP refuses.
    app = FastAPI(title="harken", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config, app.state.store = config, store
    app.state.sign_in_limit = SignInLimit()
    app.state.report_cache = boards.ReportCache()
    app.state.sso = sso.Discovery(config.web.sso) if config.web.sso else None
    app.state.meta_hooks = MetaHooks.of(config)  # None unless a source takes webhooks
    app.add_middleware(CatchAll)  # inside: a crash becomes a 500 that still gets the headers
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(hooks.router)  # signed by Meta: no sign-in
    app.include_router(replying.router)  # before pages: /items/{id}/reply is not an action
    app.include_router(sso.router)
    app.include_router(pages.router)
    app.include_router(boards.router)
    app.include_router(live.router)

    @app.get("/favicon.ico", include_in_schema=False)
    def _favicon() -> Response:
        return Response(status_code=204)

    @app.exception_handler(SignInNeeded)
    def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        if request.method != "GET":
            return page(request, "error.html", 401, error="you are signed out: sign in again")
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(wanted)}", status_code=303)

    @app.exception_handler(NoToken)
    def _no_token(request: Request, exc: NoToken) -> Response:
        return JSONResponse(
            {
                "error": "a valid API token is needed",
                "hint": "Authorization: Bearer <token from `harken users token NAME`>",
            },
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )

    @app.exception_handler(HarkenError)
    def _harken(request: Request, exc: HarkenError) -> Response:
        if request.url.path.startswith("/api/"):
            return api.error(exc)
        return page(request, "error.html", status_of(exc), error=str(exc))

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        said = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": said, "hint": None}, status_code=422)
        return page(request, "error.html", 422, error=said)

    @app.exception_handler(HTTPException)
    def _http(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail, "hint": None}, status_code=exc.status_code)
        return page(request, "error.html", exc.status_code, error=str(exc.detail))

    return app
