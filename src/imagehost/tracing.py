"""Optional OpenTelemetry tracing (the `otel` extra). With OTEL_EXPORTER_OTLP_ENDPOINT set, each
request, image decode and render, store call and catalog call is a span sent to that OTLP/HTTP
collector; unset, nothing of OpenTelemetry is imported or created and `span()` hands out one
shared no-op.

OpenTelemetry's tracer provider is process-wide by design, so the tracer is kept here, set once
per process by `configure` (the composition root calls it). FastAPI makes the request spans
itself once a provider is set (continuing a caller's traceparent, with spans for the
dependencies, the endpoint and the serialization); store and catalog calls are traced by
proxies the composition root puts around them; the work pool carries the request's span into
its threads."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import imagehost
from imagehost.config import Settings
from imagehost.service.pool import WorkPool

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

T = TypeVar("T")
SERVICE_NAME = "imagehost"
TRACES_PATH = "/v1/traces"
_NO_SPAN: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
_tracer: Tracer | None = None


def configure(settings: Settings) -> Tracer | None:
    """The process's tracer when settings.otel_exporter_otlp_endpoint is set (made on the
    first call: a TracerProvider named imagehost, batching spans to the OTLP/HTTP exporter),
    else None. Without the otel extra: ModuleNotFoundError (the CLI's one-line error)."""
    global _tracer
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return None
    if _tracer is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _tracer = provider.get_tracer(SERVICE_NAME, imagehost.__version__)
    return _tracer


def span(name: str) -> contextlib.AbstractContextManager[Any]:
    """A span around a block of the hot paths; the shared no-op when tracing is off."""
    return _NO_SPAN if _tracer is None else _tracer.start_as_current_span(name)


def traced(target: T, prefix: str, tracer: Tracer, *, methods: Iterable[str] | None = None,
           attributes: Mapping[str, str] | None = None, key_argument: bool = False) -> T:
    """`target` with a span `<prefix>.<method>` around each call of `methods` (default: every
    public method). With `key_argument`, a first string argument is the span's
    imagehost.key."""
    return _Traced(target, prefix, tracer, None if methods is None else frozenset(methods),
                   dict(attributes or {}), key_argument)  # type: ignore[return-value]


class _Traced:
    """Passes every attribute through to the target; isinstance sees the target's class."""

    def __init__(self, target: Any, prefix: str, tracer: Tracer,
                 methods: frozenset[str] | None, attributes: dict[str, str],
                 key_argument: bool) -> None:
        vars(self).update(_target=target, _prefix=prefix, _tracer=tracer, _methods=methods,
                          _attributes=attributes, _key_argument=key_argument)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._target)

    def __repr__(self) -> str:
        return f"traced({self._target!r})"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value) or \
                (self._methods is not None and name not in self._methods):
            return value
        wrapped = self._wrap(f"{self._prefix}.{name}", value)
        vars(self)[name] = wrapped  # found without __getattr__ from now on
        return wrapped

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        tracer, attributes, key_argument = self._tracer, self._attributes, self._key_argument

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            span_attributes = attributes
            if key_argument and args and isinstance(args[0], str):
                span_attributes = {**attributes, "imagehost.key": args[0]}
            started = tracer.start_span(name, attributes=span_attributes)
            try:
                with _current(started):
                    result = method(*args, **kwargs)
            except BaseException as exc:
                started.record_exception(exc)
                _set_error(started, exc)
                started.end()
                raise
            if inspect.isgenerator(result):  # a lazy listing: the span lasts its iteration
                return _iterated(started, result)
            started.end()
            return result

        return call


def _current(started: Span) -> contextlib.AbstractContextManager[Any]:
    from opentelemetry import trace

    return trace.use_span(started, end_on_exit=False, record_exception=False,
                          set_status_on_exception=False)


def _set_error(started: Span, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    started.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _iterated(started: Span, items: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from items
    finally:
        started.end()


class ContextPool(WorkPool):
    """The work pool, running each job in a copy of the caller's context, so that the spans
    made in its threads are children of the request's."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await super().run(contextvars.copy_context().run, fn, *args, **kwargs)
