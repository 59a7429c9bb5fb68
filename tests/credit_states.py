"""A hypothesis strategy of credit lines with any record: repayments, misses, behaviour,
capacity, identity and frauds (the unit tests of the score, its reasons and the pd)."""

from __future__ import annotations

from hypothesis import strategies as st

from riskstream.credit import CreditState

credit_states = st.builds(
    CreditState,
    on_time=st.integers(0, 50),
    late=st.integers(0, 10),
    missed=st.integers(0, 5),
    utilisation=st.floats(0, 1),
    erratic=st.floats(0, 1),
    monthly_spend=st.floats(0, 1e5),
    account_age_s=st.floats(0, 1e8),
    novelty=st.floats(0, 1),
    complicit_frauds=st.integers(0, 3),
)
