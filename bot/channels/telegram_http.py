"""python-telegram-bot's HTTP calls over aiohttp instead of its default httpx.

python-telegram-bot sends through a pluggable :class:`telegram.request.BaseRequest`; its
default, ``HTTPXRequest``, costs about 1.7 ms of CPU per ``sendMessage`` on this project's
2-core machine, most of it in httpcore's pool (it asks the kernel about every idle connection
on each request). The same calls over aiohttp, which carebot already runs for Slack, cost
about 0.7 ms (bench/fanout.py measures both), and CPU is what bounds a large fan-out.
python-telegram-bot keeps everything else: the methods, the JSON, the errors (a 429 is still
``RetryAfter``, a 403 ``Forbidden``), because they are decided from the status and the body
this class returns. ptbcontrib (python-telegram-bot's contrib repository) has the same idea;
it is not on PyPI, hence this small class.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

#: A timeout a caller may leave out (``BaseRequest.DEFAULT_NONE``: then the default applies).
ODVFloat = float | None | object


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a pool of ``connection_pool_size`` connections.

    Timeouts as ``HTTPXRequest``'s defaults: 5 s to connect, 5 s to read, 1 s to wait for a
    free connection (aiohttp counts that wait in its connect timeout, so the two add up).
    aiohttp has no write timeout; a request that cannot be written in time fails on the read.
    """

    def __init__(
        self,
        connection_pool_size: int = 16,
        *,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVFloat = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVFloat = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVFloat = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVFloat = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See :meth:`telegram.request.BaseRequest.do_request`."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp raises asyncio's (the builtin since 3.11)
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _given(value: ODVFloat, default: float | None) -> float | None:
    if value is BaseRequest.DEFAULT_NONE:
        return default
    return value if value is None else float(value)  # type: ignore[arg-type]


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """A form of the JSON-encoded parameters, as ``HTTPXRequest`` sends; multipart with files."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, *mimetype = part
        form.add_field(
            name, content, filename=filename, content_type=mimetype[0] if mimetype else None
        )
    return form
