"""How the commands report: progress outside and on a terminal, what an interrupted batch says,
help that answers without torch, tables readable at 80 columns."""

import io
import json
import os
import signal
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bokehcli.cli import common
from bokehcli.cli.app import app
from bokehcli.cli.tables import new_table, print_table, short_name
from bokehcli.stop import Interrupted
from photos import make_exif, textured_rgb, two_plane_depth, write_depth_png, write_photo

H, W = 48, 72


@pytest.fixture
def batch(tmp_path):
    for name in ("a", "b", "c", "d"):
        write_photo(tmp_path / f"{name}.jpg", textured_rgb(H, W, seed=ord(name)), make_exif(focus_m=2.0))
    (tmp_path / "c.jpg").write_bytes(b"not a photo")
    write_depth_png(tmp_path / "depth.png", two_plane_depth(H, W, 2.0, 8.0))
    return tmp_path


def render_args(folder, *extra):
    photos = [str(folder / f"{name}.jpg") for name in ("a", "b", "c", "d")]
    return ["render", *photos, "--f", "2", "--depth", str(folder / "depth.png"), "--out", str(folder / "out"), *extra]


def test_outside_a_terminal_each_finished_photo_is_one_plain_line(batch):
    result = CliRunner().invoke(app, render_args(batch))
    assert result.exit_code == 1  # c.jpg is not a photo
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert [line.split(":")[0] for line in lines] == [f"[1/4] {batch / 'a.jpg'}", f"[2/4] {batch / 'b.jpg'}",
                                                      "error", f"[4/4] {batch / 'd.jpg'}"]
    assert lines[0].startswith(f"[1/4] {batch / 'a.jpg'}: rendered -> {batch / 'out' / 'a_bokeh_f2.jpg'} (")
    assert "largest blur" in lines[0] and "\x1b" not in result.stderr
    rerun = CliRunner().invoke(app, render_args(batch))
    assert rerun.stderr.splitlines()[0] == f"[1/4] {batch / 'a.jpg'}: skipped, {batch / 'out' / 'a_bokeh_f2.jpg'} exists"


def test_on_a_terminal_the_live_display_replaces_the_lines(batch, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(common, "err", Console(file=terminal, force_terminal=True, width=100))
    result = CliRunner().invoke(app, render_args(batch))
    assert result.exit_code == 1
    assert result.stderr == ""  # no plain lines: everything went to the terminal's console
    shown = terminal.getvalue()
    assert "\x1b[" in shown and "render" in shown and "[1/4]" not in shown
    assert "not an image" in shown  # error lines still print, above the live display


def test_train_lines_only_outside_a_terminal():
    from bokehcli.cli.progress import CommandProgress

    for live in (False, True):
        captured = io.StringIO()
        sys.stderr, saved = captured, sys.stderr
        try:
            with CommandProgress("train", live=live) as progress:
                progress.update(2, 4, "loss 0.1")
                progress.line("step 2/4  loss 0.1000")
        finally:
            sys.stderr = saved
        assert ("step 2/4  loss 0.1000\n" in captured.getvalue()) is not live


def test_an_interrupted_batch_names_what_it_finished(batch, monkeypatch):
    from bokehcli import pipeline

    real = pipeline.render_file

    def stopped_at_d(path, settings, *args, **kwargs):
        if path.name == "d.jpg":
            raise Interrupted(signal.SIGTERM)
        return real(path, settings, *args, **kwargs)

    (batch / "out").mkdir()
    write_photo(batch / "out" / "b_bokeh_f2.jpg", textured_rgb(H, W))  # done by an earlier run
    monkeypatch.setattr(pipeline, "render_file", stopped_at_d)
    with pytest.raises(Interrupted) as stop:
        CliRunner().invoke(app, render_args(batch), catch_exceptions=False)
    assert stop.value.detail == "1 of 4 rendered (a.jpg), 1 already were, 1 failed; rerun to finish the rest"


def test_the_stop_line_of_the_command_line_carries_the_detail():
    code = ("import signal, sys\nfrom bokehcli.cli import app\nfrom bokehcli.stop import Interrupted\n"
            "def run():\n    stop = Interrupted(signal.SIGINT)\n    stop.detail = '2 of 3 rendered (a.jpg, b.jpg)'\n"
            "    raise stop\n"
            "import bokehcli.cli.commands as commands\ncommands.run = run\napp.main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr == "interrupted: 2 of 3 rendered (a.jpg, b.jpg)\n"


def test_help_answers_without_torch():
    code = ("import sys\nsys.argv = ['bokeh', '--help']\nfrom bokehcli.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('torch', 'numpy', 'cv2', 'scipy', 'PIL') if m in sys.modules], file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "render" in done.stdout and done.stderr.strip() == "[]"


def test_render_help_is_grouped_in_panels():
    text = CliRunner().invoke(app, ["render", "--help"], env={"COLUMNS": "100"}).stdout
    panels = {"Aperture": ["--f ", "--equivalent", "--blades", "--highlight-boost"],
              "Lens": ["--focal-length", "--crop-factor", "--sensor-diagonal"],
              "Focus": ["--focus-distance", "--focus-at"],
              "Depth & model": ["--depth ", "--depth-source", "--model", "--work-size", "--tile", "--no-tsp"],
              "Output": ["--out ", "--format", "--quality", "--overwrite", "--save-depth", "--json"],
              "Performance": ["--device", "--threads", "--max-pixels"]}
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("╭─ "):
            current = line[3:].split(" ─")[0]
        elif current is not None:
            blocks.setdefault(current, []).append(line)
    for panel, options in panels.items():
        block = "\n".join(blocks[panel])
        assert all(f" {option.strip()} " in block for option in options), (panel, block)


def words_whole(printed: str, cells: list[str]) -> list[str]:
    """The words of ``cells`` that do not appear whole on some line of ``printed``."""
    lines = printed.splitlines()
    return [word for cell in cells for word in cell.split() if not any(word in line for line in lines)]


def test_a_table_at_80_columns_breaks_no_word():
    cells = [["camera", "Canon Canon DIGITAL IXUS 40", ""],
             ["35 mm equiv.", "35 mm", "FocalLength x crop factor (EXIF:FocalPlaneResolution(Canon))"],
             ["AF point", "2 points in (261, 176)-(466, 599)", "Canon:AFInfo"]]
    table = new_table("a title", "", "value", "source")
    for row in cells:
        table.add_row(*row)
    screen = Console(file=io.StringIO(), width=80)
    print_table(screen, table)
    printed = screen.file.getvalue()
    assert max(len(line) for line in printed.splitlines()) <= 80
    assert words_whole(printed, [c for row in cells for c in row]) == []
    # rich alone splits (or cuts) the longest words to fit
    plain = Console(file=io.StringIO(), width=80)
    table = new_table("a title", "", "value", "source")
    for row in cells:
        table.add_row(*row)
    plain.print(table)
    assert words_whole(plain.file.getvalue(), [c for row in cells for c in row]) != []


def test_short_names_keep_start_and_extension():
    assert short_name("IMG_20240101_123456_portrait_mode.jpg", 20) == "IMG_2024010…mode.jpg"
    assert short_name("a.jpg") == "a.jpg"


def test_render_and_info_tables_at_80_columns(batch, tmp_path):
    long_name = batch / "a-photo-with-a-rather-long-descriptive-name.jpg"
    os.replace(batch / "a.jpg", long_name)
    result = CliRunner().invoke(app, ["render", str(long_name), "--f", "1.8", "--depth", str(batch / "depth.png"),
                                      "--out", str(tmp_path / "o"), "--json"])
    record = json.loads(result.stdout)[0]
    table = CliRunner().invoke(app, ["render", str(long_name), "--f", "1.8", "--depth", str(batch / "depth.png"),
                                     "--out", str(tmp_path / "o"), "--overwrite"], env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in table.splitlines()[:-1]) <= 80  # the last line: the whole output path
    row = next(line for line in table.splitlines() if "a-photo" in line)
    assert f"{record['max_blur_px']:.1f} px" in row and "2.00 m" in row and "depth.png" in row
    assert words_whole(table, [short_name(long_name.name), "1.8", "(EXIF)"]) == []
    info = CliRunner().invoke(app, ["info", str(long_name)], env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in info.splitlines()) <= 80
    assert words_whole(info, ["EXIF:FocalLength", "EXIF:FNumber", "EXIF:SubjectDistance", "2 m"]) == []


def test_bench_compare_prints_tables_at_80_columns(monkeypatch):
    from bokehcli.cli import bench

    screen = Console(file=io.StringIO(), width=80)
    monkeypatch.setattr(bench, "out", screen)
    report = {"settings": {"threads": 1, "omp_wait_policy": "PASSIVE"}, "megapixels": 24.0, "device": "cpu",
              "repeat": 3, "depth": "given", "median_seconds": {"decode": 0.51234, "render": 2.0, "total": 2.6},
              "megapixels_per_second": 9.23, "peak_memory_kind": "RSS", "peak_memory_bytes": 3 * 2**30,
              "max_blur_px": 80.1,
              "compare_op": {"shape": [1, 4, 4096, 32], "chunk_s": 0.03861, "recurrent_s": 0.3198, "speedup": 8.28,
                             "max_abs_diff": 2.9e-06},
              "compare_tiling": {"whole_s": 1.2346, "tiled_tsp_s": 1.5, "tiled_no_tsp_s": 1.4,
                                 "tiled_tsp_inv_depth_psnr_db": 41.234, "tiled_no_tsp_inv_depth_psnr_db": 33.0,
                                 "tiled_over_whole_time": 1.22}}
    bench._print_report(report)
    lines = screen.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80

    def row(label):
        return next(line for line in lines if line.startswith(f"│ {label} ")).split("│")[2:-1]

    assert [cell.strip() for cell in row("chunked")] == ["0.0386", "8.28x"]
    assert [cell.strip() for cell in row("per token")] == ["0.3198", "1.00x"]
    assert [cell.strip() for cell in row("tiles, state carried")] == ["1.500", "41.23"]
    assert [cell.strip() for cell in row("whole")] == ["1.235", "reference"]


@pytest.mark.slow
def test_bench_compare_end_to_end():
    result = CliRunner().invoke(app, ["bench", "--size", "64x48", "--with-depth", "--repeat", "1", "--compare",
                                      "--threads", "1"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "chunked" in result.stdout and "per token" in result.stdout and "compare_op" not in result.stdout
