"""Checking a DSP block's configuration: Studio's strings (or typed values) in, typed values out, or a clear refusal.

``resolve`` starts from the defaults and applies the given values. Studio sends every value as a string in
``POST /dsp/{dspId}`` (``{"config": {"num_filters": "40", "do-log": "true"}}``); typed values (``40``,
``True``) are accepted too. A refusal is a :class:`DspParameterError`: an ``ApiError`` with status 400 (what a
route answers) that is also a ``ValueError``, naming the block, the parameter and the value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from sweep.errors import ApiError
from sweep.local.dsp.catalog import BLOCKS, Param, Value, params_of
from sweep.studio.impulse_models import dsp_wire_value

__all__ = ["Config", "DspParameterError", "Values", "resolve", "wire_value"]

Config = Mapping[str, object]
Values = dict[str, Value]


class DspParameterError(ApiError, ValueError):
    """A DSP parameter (or a block's configuration) the block cannot take; 400 when a route answers it."""

    def __init__(self, block_type: str, param: str | None, value: object, reason: str) -> None:
        self.block_type, self.param, self.value, self.reason = block_type, param, value, reason
        where = f"{block_type}: parameter {param!r}" if param else block_type
        shown = "" if value is None else f" = {value!r}"
        super().__init__(f"{where}{shown}: {reason}", status_code=400)


_Refuse = Callable[[str], DspParameterError]


def wire_value(value: Value) -> str:
    """A typed value as Studio writes it (see :func:`~sweep.studio.impulse_models.dsp_wire_value`)."""
    return dsp_wire_value(value)


def resolve(block_type: str, config: Config) -> Values:
    """The block's typed values: its defaults with ``config`` applied, every value and rule checked."""
    if block_type not in BLOCKS:
        raise DspParameterError(block_type, None, None, f"unknown DSP block type (the local studio computes "
                                                        f"{', '.join(BLOCKS)})")
    params = {p.param: p for p in params_of(block_type)}
    values: Values = {p.param: p.default for p in params.values()}
    for name, raw in config.items():
        p = params.get(name)
        if p is None:
            raise DspParameterError(block_type, name, raw, f"unknown parameter (the {block_type} block has "
                                                           f"{', '.join(params)})")
        values[name] = _coerce(block_type, p, raw)
    _check_rules(block_type, values)
    return values


def _coerce(block_type: str, p: Param, raw: object) -> Value:
    def refuse(reason: str) -> DspParameterError:
        return DspParameterError(block_type, p.param, raw, reason)

    if p.type == "boolean":
        value: Value = _boolean(raw, refuse)
    elif p.type == "int":
        value = _integer(raw, refuse)
    elif p.type == "float":
        value = _real(raw, refuse)
    elif p.type == "select":
        value = _select(p, raw, refuse)
    else:
        if not isinstance(raw, str):
            raise refuse("must be a string")
        value = raw
    if p.readonly and value != p.default:
        raise refuse(f"is read-only (always {wire_value(p.default)})")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if p.min is not None and value < p.min:
            raise refuse(f"below the minimum {wire_value(p.min)}")
        if p.max is not None and value > p.max:
            raise refuse(f"above the maximum {wire_value(p.max)}")
    return value


def _boolean(raw: object, refuse: _Refuse) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise refuse('must be a boolean ("true" or "false")')


def _integer(raw: object, refuse: _Refuse) -> int:
    if isinstance(raw, bool):
        raise refuse("must be an integer, not a boolean")
    if isinstance(raw, int):
        return raw
    number: float
    if isinstance(raw, float):
        number = raw
    elif isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            try:
                number = float(raw)
            except ValueError:
                raise refuse("must be an integer") from None
    else:
        raise refuse("must be an integer")
    if not (math.isfinite(number) and number.is_integer()):
        raise refuse("must be an integer")
    return int(number)


def _real(raw: object, refuse: _Refuse) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise refuse("must be a number")
    try:
        number = float(raw)
    except ValueError:
        raise refuse("must be a number") from None
    if not math.isfinite(number):
        raise refuse("must be a finite number")
    return number


def _select(p: Param, raw: object, refuse: _Refuse) -> Value:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise refuse(f"must be one of {', '.join(p.options)}")
    text = str(raw).strip()
    if text not in p.options:
        raise refuse(f"not one of the options {', '.join(p.options)}")
    return int(text) if p.select_int else text


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _check_rules(block_type: str, v: Values) -> None:
    """The rules that join parameters or go beyond a range (those that need the signal's rate come later)."""
    def refuse(param: str, reason: str) -> DspParameterError:
        return DspParameterError(block_type, param, v[param], reason)

    for fft in ("fft_length", "fft-length"):
        if fft in v and not _power_of_two(int(v[fft])):
            raise refuse(fft, "must be a power of 2")
    if block_type == "spectral-analysis":
        if v["analysis-type"] == "Wavelet":
            raise refuse("analysis-type", "the local studio computes the FFT analysis only (its wavelet "
                                          "features need PyWavelets): choose FFT")
        if int(v["filter-order"]) % 2:
            raise refuse("filter-order", "must be even (0 to skip filtering, 2, 4, 6 or 8)")
    if block_type == "mfcc":
        if int(v["win_size"]) and int(v["win_size"]) % 2 == 0:
            raise refuse("win_size", "must be odd (or 0: no normalization)")
        if int(v["num_cepstral"]) > int(v["num_filters"]):
            raise refuse("num_cepstral", f"must not exceed num_filters ({v['num_filters']}): the cepstrum of "
                                         f"{v['num_filters']} filters has that many coefficients")
    if block_type in ("mfe", "mfcc"):
        high, low = int(v["high_frequency"]), int(v["low_frequency"])
        if high and high <= low:
            raise refuse("high_frequency", f"must be above low_frequency ({low}), or 0 for half the sampling rate")
