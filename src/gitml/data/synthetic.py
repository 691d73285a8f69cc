"""A seeded generator of a realistic loan-default table, and named drift scenarios.

The target depends on the features through a documented logistic model:

    logit P(default = 1) = -2.0
        + 4.0 * (debt_to_income - 0.35)
        - 0.8 * log(income / 45_000)            (missing income counts as 45_000)
        + 0.35 * log(loan_amount / 12_000)
        - 0.04 * (credit_history_years - 8)
        + 0.45 * delinquencies_2y
        - 0.012 * (age - 40)
        + employment effect {salaried: 0, self_employed: 0.3, contract: 0.45, unemployed: 1.1, retired: 0.1}
        + home-ownership effect {rent: 0.25, mortgage: 0, own: -0.2, other: 0.1}

`region` and `gender` (the sensitive attribute) have no direct effect; `open_accounts` only through
its correlation with credit history. Production batches for monitoring come from `scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EMPLOYMENT = ("salaried", "self_employed", "contract", "unemployed", "retired")
EMPLOYMENT_P = (0.58, 0.14, 0.13, 0.07, 0.08)
EMPLOYMENT_EFFECT = {
    "salaried": 0.0,
    "self_employed": 0.3,
    "contract": 0.45,
    "unemployed": 1.1,
    "retired": 0.1,
}
REGIONS = ("north", "south", "east", "west", "central")
REGIONS_P = (0.22, 0.24, 0.18, 0.2, 0.16)
HOME = ("rent", "mortgage", "own", "other")
HOME_P = (0.38, 0.4, 0.18, 0.04)
HOME_EFFECT = {"rent": 0.25, "mortgage": 0.0, "own": -0.2, "other": 0.1}
GENDER = ("female", "male", "nonbinary")
GENDER_P = (0.49, 0.49, 0.02)
START = np.datetime64("2022-01-01")
DAYS = 3 * 365


@dataclass(frozen=True)
class Scenario:
    """A named production-batch scenario and the columns whose distribution it changes."""

    name: str
    description: str
    drifted_columns: tuple[str, ...]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("none", "Fresh applications from the training distribution (another seed).", ()),
        Scenario("shifted_numeric", "debt_to_income shifted up by 0.12.", ("debt_to_income",)),
        Scenario(
            "new_category",
            "A new employment_type 'gig' appears in 25% of applications.",
            ("employment_type",),
        ),
        Scenario(
            "covariate",
            "Larger loans (x1.8) and more open accounts (+4): covariate drift.",
            ("loan_amount", "open_accounts"),
        ),
        Scenario(
            "concept",
            "Same features, but defaults depend twice as strongly on debt_to_income: concept drift.",
            (),
        ),
    )
}


def _logit(frame: pd.DataFrame, dti_weight: float = 4.0) -> np.ndarray:
    income = frame["income"].fillna(45_000.0).to_numpy(dtype=float)
    logit = (
        -2.0
        + dti_weight * (frame["debt_to_income"].to_numpy() - 0.35)
        - 0.8 * np.log(np.maximum(income, 1.0) / 45_000.0)
        + 0.35 * np.log(frame["loan_amount"].to_numpy() / 12_000.0)
        - 0.04 * (frame["credit_history_years"].to_numpy() - 8.0)
        + 0.45 * frame["delinquencies_2y"].to_numpy()
        - 0.012 * (frame["age"].to_numpy() - 40.0)
        + frame["employment_type"].map(EMPLOYMENT_EFFECT).fillna(0.6).to_numpy(dtype=float)
        + frame["home_ownership"].map(HOME_EFFECT).to_numpy(dtype=float)
    )
    return np.asarray(logit, dtype=float)


def generate(n_rows: int = 20_000, seed: int = 42, scenario: str = "none") -> pd.DataFrame:
    """Generate `n_rows` loan applications; deterministic in (n_rows, seed, scenario).

    Args:
        n_rows: number of rows.
        seed: seed of the random generator.
        scenario: a key of SCENARIOS; "none" is the training distribution.
    """
    if scenario not in SCENARIOS:
        from gitml.errors import GitmlError

        raise GitmlError(
            f"Unknown drift scenario '{scenario}'.",
            f"Choose one of: {', '.join(SCENARIOS)}.",
        )
    if n_rows < 1:
        from gitml.errors import GitmlError

        raise GitmlError(f"n_rows is {n_rows}; it must be at least 1.", "Pass a positive count.")
    rng = np.random.default_rng(seed)
    n = int(n_rows)
    age = np.clip(np.rint(rng.normal(41, 12, n)), 18, 85).astype("int64")
    income = np.round(np.exp(rng.normal(np.log(48_000), 0.55, n)), 2)
    income[rng.random(n) < 0.01] = np.nan
    employment = rng.choice(EMPLOYMENT, n, p=EMPLOYMENT_P)
    retired = age >= 66
    employment[retired & (rng.random(n) < 0.7)] = "retired"
    dti = np.round(np.clip(rng.beta(2.2, 4.5, n) * 0.9, 0.0, 5.0), 4)
    history = np.round(np.minimum(rng.gamma(2.2, 4.0, n), age - 18.0), 2)
    open_accounts = rng.poisson(2.0 + history / 4.0).astype("int64")
    loan = np.round(
        np.clip(
            np.exp(rng.normal(np.log(11_000), 0.6, n))
            * np.sqrt(np.nan_to_num(income, nan=48_000) / 48_000),
            500,
            900_000,
        ),
        2,
    )
    delinquencies = rng.poisson(0.25, n).astype("int64")
    region = rng.choice(REGIONS, n, p=REGIONS_P)
    home = rng.choice(HOME, n, p=HOME_P)
    gender = rng.choice(GENDER, n, p=GENDER_P)
    dates = START + rng.integers(0, DAYS, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "applicant_id": [f"A{seed % 10_000:04d}{i:08d}" for i in range(n)],
            "application_date": pd.to_datetime(dates).astype("datetime64[ns]"),
            "age": age,
            "income": income,
            "debt_to_income": dti,
            "credit_history_years": history,
            "loan_amount": loan,
            "open_accounts": open_accounts,
            "delinquencies_2y": delinquencies,
            "employment_type": employment.astype(object),
            "region": region.astype(object),
            "home_ownership": home.astype(object),
            "gender": gender.astype(object),
        }
    )
    dti_weight = 4.0
    if scenario == "shifted_numeric":
        frame["debt_to_income"] = np.round(frame["debt_to_income"] + 0.12, 4)
    elif scenario == "new_category":
        gig = rng.random(n) < 0.25
        frame.loc[gig, "employment_type"] = "gig"
    elif scenario == "covariate":
        frame["loan_amount"] = np.round(np.clip(frame["loan_amount"] * 1.8, 500, 900_000), 2)
        frame["open_accounts"] = frame["open_accounts"] + 4
    elif scenario == "concept":
        dti_weight = 8.0
    prob = 1.0 / (1.0 + np.exp(-_logit(frame, dti_weight)))
    frame["default"] = (rng.random(n) < prob).astype("int64")
    for col in ("employment_type", "region", "home_ownership", "gender", "applicant_id"):
        frame[col] = frame[col].astype("string")
    return frame
