"""The CLI's own behaviour: help texts, and bad input stopped before any work."""

from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "serve", "ui", "champion", "generate", "promote", "rollback"):
        assert command in result.stdout


def test_a_bad_config_stops_with_the_field_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  max_stepz: 3\nsplit:\n  validation_fraction: 2\n")
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "train.max_stepz: unknown key" in result.stderr
    assert "split.validation_fraction" in result.stderr


def test_a_missing_config_names_the_file(tmp_path):
    result = runner.invoke(app, ["champion", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml not found" in result.stderr


def test_run_prints_the_summary_links_as_written(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import flows.nightly
    from flows.collect import CollectReport
    from tasks.records import LakeRef

    summary = "# lmkiln nightly\n- model: [lmkiln v1](http://127.0.0.1:5000/#/models/lmkiln)"
    collected = CollectReport(raw=LakeRef("raw", "c1", 0), sources=())
    report = SimpleNamespace(collected=collected, summary=summary)
    monkeypatch.setattr(flows.nightly, "nightly", lambda config: report)
    path = tmp_path / "config.yaml"
    path.write_text(f"storage: {{data_root: {tmp_path / 'data'}}}\n")
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "[lmkiln v1](http://127.0.0.1:5000/#/models/lmkiln)" in result.stdout
