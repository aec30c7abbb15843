"""``smartdeploy`` command line: the embedded stack, each production process, demo, replay."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from smartdeploy.settings import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="smartdeploy: predicts deployment failure, picks a strategy, rolls back bad versions.",
)


def _settings() -> Settings:
    return Settings()


@app.command()
def up() -> None:
    """Run everything in one process: broker (unless SMARTDEPLOY_KAFKA_BOOTSTRAP is set),
    Faust worker, executor (dry-run), history writer, API + UI."""
    from smartdeploy.stack import run_stack

    raise typer.Exit(run_stack(_settings()))


@app.command()
def worker() -> None:
    """Production: the Faust worker (predict, strategy, KPI windows, verdicts)."""
    from smartdeploy.processes import run_worker_process

    raise typer.Exit(run_worker_process(_settings()))


@app.command()
def executor() -> None:
    """Production: the rollback executor."""
    from smartdeploy.processes import run_executor_process

    raise typer.Exit(run_executor_process(_settings()))


@app.command()
def history() -> None:
    """Production: the history writer (Kafka → ClickHouse)."""
    from smartdeploy.processes import run_history_process

    raise typer.Exit(run_history_process(_settings()))


@app.command()
def api() -> None:
    """Production: the API and web UI."""
    from smartdeploy.processes import run_api_process

    raise typer.Exit(run_api_process(_settings()))


@app.command()
def demo(
    api_url: Annotated[str, typer.Option(help="API of the running stack")] = "",
    minutes: Annotated[float, typer.Option(help="simulated minutes")] = 60.0,
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 60.0,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Play a realistic hour of deployments against a running stack (about a minute)."""
    from smartdeploy.demo import run_demo

    raise typer.Exit(
        run_demo(_settings(), api_url=api_url, minutes=minutes, speed=speed, seed=seed)
    )


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    out: Annotated[Path | None, typer.Option("--out", help="output JSONL (default stdout)")] = None,
) -> None:
    """Run the live processors over a recorded, time-ordered JSONL stream; no broker."""
    from smartdeploy.replay import replay as do_replay
    from smartdeploy.wiring import build_pipeline

    pipeline = build_pipeline(_settings())
    sink = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        with file.open(encoding="utf-8") as src:
            stats = do_replay(
                src,
                pipeline,
                lambda line: None if sink.write(line + "\n") else None,
                progress=lambda s: print(f"… {s.inputs} inputs", file=sys.stderr),
            )
    finally:
        if out:
            sink.close()
    print(
        f"replayed {stats.inputs} inputs → {stats.outputs} outputs, "
        f"{stats.dead_letters} dead letters, {stats.out_of_order} out of order",
        file=sys.stderr,
    )


@app.command()
def record_demo(
    out: Annotated[Path, typer.Argument(dir_okay=False)],
    minutes: Annotated[float, typer.Option()] = 60.0,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Write the demo scenario as a recorded stream (input for ``replay``)."""
    from datetime import UTC, datetime

    from smartdeploy.scenario import recorded_stream

    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    with out.open("w", encoding="utf-8") as fh:
        for ev in recorded_stream(start, seed, minutes):
            fh.write(ev.model_dump_json() + "\n")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
