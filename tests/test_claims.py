"""What nbval compares of a claim: its verdict, or CLOSE where the measurement sits at the threshold."""

from ermas.claims import Claim, claims_table, print_verdicts


def test_close_claims_print_close_instead_of_their_verdict(capsys):
    clear = Claim("3", "a clear result", "x > 0", "x = 5", True)
    close = Claim("5", "a result at its threshold", "x > 0", "x = -0.01 (standard error 0.1)", False, close=True)
    print_verdicts([clear, close])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["PASS  Figure 3: a clear result", "CLOSE  Figure 5: a result at its threshold"]
    assert list(claims_table([clear, close]).verdict) == ["PASS", "FAIL (close)"]
