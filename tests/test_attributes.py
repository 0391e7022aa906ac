import pytest

from otel_llm_security import attributes as a


def test_contract_names_are_unique() -> None:
    names = [spec.name for spec in a.CONTRACT]
    assert len(names) == len(set(names))


def test_every_exported_constant_of_the_summary_is_in_the_contract() -> None:
    summary = {v for k, v in vars(a).items() if k.startswith("LLM_SECURITY_") and isinstance(v, str)}
    assert summary <= set(a.CONTRACT_BY_NAME)


@pytest.mark.parametrize(
    ("direction", "scanner", "expected"),
    [("input", "prompt_injection", "llm.security.input.prompt_injection.score"),
     ("output", "secrets", "llm.security.output.secrets.score")],
)
def test_scanner_score_attribute(direction: a.Direction, scanner: str, expected: str) -> None:
    assert a.scanner_score_attribute(direction, scanner) == expected


@pytest.mark.parametrize(("direction", "scanner"), [("both", "x"), ("input", "bad.name"), ("input", "")])
def test_scanner_score_attribute_rejects_bad_names(direction: str, scanner: str) -> None:
    with pytest.raises(ValueError):
        a.scanner_score_attribute(direction, scanner)  # type: ignore[arg-type]


def test_every_threat_is_described() -> None:
    assert set(a.THREAT_DESCRIPTIONS) == set(a.Threat)
