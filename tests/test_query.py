"""Query building, filter parsing, the strong cut-off and collapsing, without a model or an index."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from pixseek.cli import error_line

from pixseek.errors import PixseekError, QueryError
from pixseek.search import Filters, Query, collapse, combine, strong_cutoff
from pixseek.search.filters import parse_size, period


# -- terms and weights -----------------------------------------------------------------------------------
def test_terms_take_weights_in_order_text_images_negatives():
    q = Query(text=" a dog ", images=["a.jpg", b"bytes"], negatives=["people"], weights=[2, 0.5, 0, 0.3])
    terms = q.terms()
    assert [(t.kind, t.weight) for t in terms] == [("text", 2.0), ("image", 0.5), ("text", -0.3)]
    assert terms[0].value == "a dog" and terms[-1].value == "people"  # a weight-0 term is dropped
    assert [t.weight for t in Query(text="x", negatives=["y", "z"]).terms()] == [1.0, -1.0, -1.0]
    assert Query(images="one.jpg").images == ("one.jpg",)


def test_template_wraps_every_text_term_and_only_texts():
    terms = Query(text="cat", images=["cat.jpg"], negatives=["dog"], template="a photo of {}").terms()
    assert [t.value for t in terms] == ["a photo of cat", "cat.jpg", "a photo of dog"]
    assert Query(text="cat").terms()[0].value == "cat"  # off by default


@pytest.mark.parametrize("kwargs, message", [
    ({}, "empty"),
    ({"text": "   "}, "empty"),
    ({"negatives": ["people"]}, "empty"),
    ({"text": "x", "weights": [1, 2]}, "2 weights for 1 term:"),
    ({"text": "x", "images": ["a"], "weights": [1]}, "1 weight for 2 terms"),
    ({"text": "x", "weights": [-1]}, ">= 0"),
    ({"text": "x", "weights": [float("nan")]}, ">= 0"),
    ({"text": "x", "negatives": ["y"], "weights": [0, 1]}, "weight 0"),
])
def test_bad_terms_are_one_line_errors(kwargs, message):
    with pytest.raises(QueryError, match=message) as info:
        Query(**kwargs).terms()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"text": "x", "k": 0}, "-k"),
    ({"text": "x", "offset": -1}, "--offset"),
    ({"text": "x", "template": "a photo"}, "{}"),
    ({"text": "x", "template": "{} and {}"}, "{}"),
    ({"text": "x", "negatives": [" "]}, "--not"),
])
def test_bad_query_fields_fail_when_made(kwargs, message):
    with pytest.raises(QueryError) as info:
        Query(**kwargs)
    assert message in error_line(info.value)  # the CLI's words (the message itself names no flag)


def test_combine_is_the_renormalised_weighted_sum():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q = combine(v, [1.0, 0.5, -0.25])
    want = v[0] + 0.5 * v[1] - 0.25 * v[2]
    assert q.shape == (1, 16) and q.dtype == np.float32
    np.testing.assert_allclose(q[0], want / np.linalg.norm(want), atol=1e-6)
    np.testing.assert_allclose(combine(v[:1], [3.0])[0], v[0], atol=1e-6)  # one term: itself
    with pytest.raises(QueryError, match="cancel"):
        combine(np.stack([v[0], v[0]]), [1.0, -1.0])


# -- filters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, start, end", [
    ("2021", datetime(2021, 1, 1), datetime(2022, 1, 1)),
    ("2021-07", datetime(2021, 7, 1), datetime(2021, 8, 1)),
    ("2021-12", datetime(2021, 12, 1), datetime(2022, 1, 1)),
    ("2021-07-04", datetime(2021, 7, 4), datetime(2021, 7, 5)),
    ("2021-07-04 18:30", datetime(2021, 7, 4, 18, 30), datetime(2021, 7, 4, 18, 31)),
    ("2021-07-04T18:30:05", datetime(2021, 7, 4, 18, 30, 5), datetime(2021, 7, 4, 18, 30, 6)),
    (date(2020, 2, 29), datetime(2020, 2, 29), datetime(2020, 3, 1)),
])
def test_a_date_names_a_period(text, start, end):
    assert period(text) == (start, end)


@pytest.mark.parametrize("bad", ["2021-13", "yesterday", "21-07-01", "2021-02-30", ""])
def test_bad_dates_are_refused(bad):
    with pytest.raises(QueryError, match="not a date"):
        Filters(since=bad)


def test_filters_validate_and_describe(tmp_path):
    f = Filters(under=str(tmp_path / "a"), since="2021", until="2021-06", orientation="landscape",
                min_size="1920x1080")
    assert f.active and f.under == (str(tmp_path / "a"),)
    assert f.describe() == f"under {tmp_path / 'a'}, since 2021, until 2021-06, landscape, at least 1920x1080"
    assert not Filters().active and Filters().describe() == "no filters"
    with pytest.raises(QueryError, match="after the end date"):
        Filters(since="2022", until="2021")
    with pytest.raises(QueryError, match="orientation"):
        Filters(orientation="diagonal")
    assert Filters(since="2021-07-04", until="2021-07-04").active  # one whole day is fine
    assert issubclass(QueryError, PixseekError)


@pytest.mark.parametrize("text, size", [("1920x1080", (1920, 1080)), ("800X600", (800, 600)), ("1000", (1000, 1000)),
                                        (" 640 x 480 ", (640, 480)), ((3, 4), (3, 4))])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["big", "1920x", "x1080", "-5", "1.5x2"])
def test_bad_sizes(bad):
    with pytest.raises(QueryError, match="is not a size") as info:
        parse_size(bad)
    assert info.value.field == "min_size" and error_line(info.value).startswith("--min-size ")


# -- strong cut-off and collapsing -------------------------------------------------------------------------
def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_strong_cutoff_finds_planted_matches_and_nothing_without_them():
    rng = np.random.default_rng(1)
    dim = 64
    query = unit(rng.normal(size=dim)).astype(np.float32)
    background = unit(rng.normal(size=(4000, dim))).astype(np.float32)
    matches = unit(query + 0.9 * unit(rng.normal(size=(20, dim)))).astype(np.float32)
    cut = strong_cutoff(query, np.concatenate([background, matches]))
    scores_bg, scores_m = background @ query, matches @ query
    assert (scores_m >= cut.threshold).all()
    assert (scores_bg >= cut.threshold).sum() <= 2  # ~1 in 30 000 for a normal bulk at z = 4
    assert abs(cut.typical - np.median(scores_bg)) < 0.01 and cut.z(cut.threshold) == pytest.approx(cut.z_min)
    cut_null = strong_cutoff(query, background)
    assert (background @ query >= cut_null.threshold).sum() <= 2


def test_strong_cutoff_adapts_to_the_score_scale():
    """One score can stand out in one collection and be ordinary in another: no flat threshold fits both."""
    rng = np.random.default_rng(2)
    dim = 32
    bg = unit(rng.normal(size=(3000, dim))).astype(np.float32)
    q = unit(rng.normal(size=dim)).astype(np.float32)
    spread_out = strong_cutoff(q, bg)
    close = strong_cutoff(q, unit(bg + 2.0 * q).astype(np.float32))  # every image now scores high on q
    assert spread_out.threshold < 0.8 < close.threshold
    assert close.typical > spread_out.typical + 0.5 and close.spread < spread_out.spread


def test_identical_collection_has_no_strong_match():
    v = unit(np.ones((50, 8), np.float32))
    cut = strong_cutoff(v[0], v)
    assert cut.threshold > 1.0  # nothing can stand out from a collection of one picture


def test_collapse_keeps_the_best_member_and_lists_the_others():
    ranked = [(5, 0.9), (3, 0.9), (8, 0.7), (4, 0.6), (9, 0.5)]
    groups = {5: (3, 5, 11), 3: (3, 5, 11), 11: (3, 5, 11), 4: (4, 9), 9: (4, 9)}
    out = collapse(ranked, groups, keep=lambda i: i != 11)
    assert out == [(5, 0.9, (3,)), (8, 0.7, ()), (4, 0.6, (9,))]
