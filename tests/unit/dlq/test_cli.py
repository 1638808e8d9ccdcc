"""The `dlq` commands' arguments, refused before any Kafka client is made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bridge import cli


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "bridge.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": "127.0.0.1:1"},
                "gameball": {"api_key": "k"},
                "dead_letter": {"topic": "dlq"},
                "mappings": [
                    {"name": "a", "topics": ["a"], "event": {"customer_id": "u", "name": "t"}}
                ],
            }
        )
    )
    return str(path)


def test_follow_has_no_end(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(["dlq", "show", "-c", config, "--follow", "--to-offset", "9"]) == cli.EXIT_CONFIG
    )
    assert "--follow reads on past the end" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "show", "--samples", "-1"],
        ["dlq", "show", "--code", "x"],
        ["dlq", "replay", "--max-failed-replays", "0"],
        ["dlq", "replay", "--from-time", "yesterday"],
    ],
)
def test_bad_values_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == cli.EXIT_CONFIG


def test_the_filters_reach_both_commands() -> None:
    parser = cli._parser()
    for command in ("show", "replay"):
        args = parser.parse_args(
            [
                "dlq",
                command,
                "--kind",
                "mapping_failed",
                "--kind",
                "rejected",
                "--code",
                "3000",
                "--mapping",
                "shop",
                "--reason",
                "Tier",
            ]
        )
        filters = cli._dlq_filters(args)
        assert filters.kinds == {"mapping_failed", "rejected"}
        assert filters.codes == {3000}
        assert (
            filters.describe()
            == "--kind mapping_failed --kind rejected --code 3000 --mapping shop --reason 'tier'"
        )
