"""Every bad input gets a ValueError naming the column/row and the fix; nothing is dropped silently."""
import numpy as np
import pytest

import jaxscale as js


@pytest.fixture
def good():
    return js.datasets.synthetic(noise=0.01).reset_index(drop=True)


def fit(data, **kw):
    return js.fit(data, starts=2, **kw)


@pytest.mark.parametrize("column", ["N", "D", "loss"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(good, column, bad):
    good.loc[7, column] = bad
    with pytest.raises(ValueError, match=rf"column '{column}'.*row 7 .*(drop|fix)"):
        fit(good)


@pytest.mark.parametrize("column", ["N", "D", "loss"])
@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_non_positive(good, column, bad):
    good.loc[4, column] = bad
    with pytest.raises(ValueError, match=rf"column '{column}'.*row 4 .*must be > 0"):
        fit(good)


def test_row_label_is_named(good):
    good.index = good.index + 100
    good.loc[105, "loss"] = np.nan
    with pytest.raises(ValueError, match=r"row 5 \(index label 105\)"):
        fit(good)


def test_too_few_rows(good):
    with pytest.raises(ValueError, match=r"only 5 row.*at least 6"):
        fit(good.iloc[:5])


@pytest.mark.parametrize("column,option", [("N", "N"), ("D", "D")])
def test_single_distinct_value(good, column, option):
    good[column] = 1e9
    with pytest.raises(ValueError, match=rf"column '{column}'.*single distinct value.*several values of {option}"):
        fit(good)


def test_missing_column_names_option(good):
    with pytest.raises(ValueError, match=r"column 'tokens' .*not found.*d=\.\.\."):
        fit(good, d="tokens")
    renamed = good.rename(columns={"N": "params"})
    with pytest.raises(ValueError, match=r"column 'N' .*not found.*'params'.*n=\.\.\."):
        fit(renamed)
    assert fit(renamed, n="params").n_points == len(good)


def test_non_numeric_column(good):
    good["D"] = good["D"].astype(object)
    good.loc[3, "D"] = "lots"
    with pytest.raises(ValueError, match=r"column 'D'.*not numeric.*row 3 holds 'lots'.*pd.to_numeric"):
        fit(good)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match=r"column 'D' has 3 values but 'N' has 4"):
        fit({"N": [1e8, 2e8, 3e8, 4e8], "D": [1e9, 2e9, 3e9], "loss": [3.0, 2.9, 2.8, 2.7]})


def test_bad_starts_and_weights(good):
    with pytest.raises(ValueError, match=r"starts has shape \(3, 4\).*\(K, 5\)"):
        js.fit(good, starts=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"starts row 1, column 'e'"):
        js.fit(good, starts=np.array([[0, 0, 0, 0, 0], [0, 0, np.nan, 0, 0]]))
    with pytest.raises(ValueError, match=r"weights has 3 values but data has"):
        fit(good, weights=[1, 2, 3])
    w = np.ones(len(good))
    w[2] = -1
    with pytest.raises(ValueError, match=r"weights row 2"):
        fit(good, weights=w)


def test_unknown_names(good):
    with pytest.raises(ValueError, match="unknown law"):
        fit(good, law="kaplan2")
    with pytest.raises(ValueError, match="unknown solver"):
        fit(good, solver="adam")
    with pytest.raises(ValueError, match="unknown loss"):
        fit(good, loss="l1")
    with pytest.raises(ValueError, match="DataFrame"):
        fit([1, 2, 3])


def test_compute_optimal_rejects_bad_budget(good):
    result = fit(good)
    with pytest.raises(ValueError, match="compute C"):
        result.compute_optimal(-1.0)
