"""Feature extraction: the pixels the model sees, the features file, shards, reruns, weights errors."""

import os
import signal
import subprocess
import time

import keras
import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

from conftest import CPU_TENSORFLOW, PAPER_BACKBONES, run_snakemake, small_config, snakemake_command, tiny_backbones
from pinclass.atomic import read_metadata
from pinclass.backbones import build_backbone
from pinclass.demo_crawl import category_image, write_image
from pinclass.extraction import ChunkStore, extract_features, extract_resumable
from pinclass.feature_tables import features_matrix, features_table, merge_shards

SIZE = 32
TWO_BACKBONES = tiny_backbones("efficientnetv2_b0", "convnext_tiny", input_size=SIZE, batch_size=8,
                               shards={"convnext_tiny": 3})


def reference_pixels(path, size):
    """Written independently of pinclass.images: what the model must receive for a file."""
    with Image.open(path) as image:
        if image.format == "JPEG":  # the documented speed-up: DCT-scaled decode for large JPEGs
            image.draft(image.mode, (size, size))
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        image = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def identity_model(size):
    return keras.Sequential([keras.Input((size, size, 3)), keras.layers.Flatten()])


def test_the_tensor_reaching_the_model_is_the_reference_decode(tmp_path):
    rng = np.random.default_rng(0)
    base = category_image(5, rng, 64).crop((0, 0, 64, 40))
    paths = [write_image(tmp_path / kind, kind, base)
             for kind in ("jpeg", "png", "exif_rotated_jpeg", "palette_alpha_png", "webp")]
    rgba = np.zeros((40, 64, 4), np.uint8)
    rgba[..., 0], rgba[:, :32, 3] = 255, 255  # left half opaque red, right half transparent
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    paths.append(tmp_path / "alpha.png")
    seen = extract_features(paths, identity_model(SIZE), SIZE, batch_size=4, threads=2)
    for path, flat in zip(paths, seen):
        np.testing.assert_array_equal(flat.reshape(SIZE, SIZE, 3), reference_pixels(path, SIZE), err_msg=path.name)
    alpha = seen[-1].reshape(SIZE, SIZE, 3)
    np.testing.assert_array_equal(alpha[:, 0], [[255, 0, 0]] * SIZE)    # RGB order, 0..255, not normalised
    np.testing.assert_array_equal(alpha[:, -1], [[255, 255, 255]] * SIZE)  # transparency → white


def test_large_jpegs_decode_at_a_reduced_scale_close_to_the_full_decode(tmp_path):
    path = write_image(tmp_path / "big", "jpeg", category_image(2, np.random.default_rng(0), 256))
    seen = extract_features([path], identity_model(SIZE), SIZE, 1, 1).reshape(SIZE, SIZE, 3)
    np.testing.assert_array_equal(seen, reference_pixels(path, SIZE))
    with Image.open(path) as image:
        full = np.asarray(image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC), np.float32)
    assert 0 < np.abs(seen - full).mean() < 4  # a different decode, the same picture


def test_exif_orientation_is_applied(tmp_path):
    base = Image.new("RGB", (64, 48), (0, 0, 255))
    base.paste((255, 0, 0), (0, 0, 64, 8))  # red band on top of the stored image
    path = write_image(tmp_path / "rot", "exif_rotated_jpeg", base)
    seen = extract_features([path], identity_model(SIZE), SIZE, 1, 1).reshape(SIZE, SIZE, 3)
    # orientation 6 shows the stored top edge on the right
    assert seen[:, -1, 0].mean() > 200 and seen[:, 0, 0].mean() < 60


def test_features_do_not_depend_on_batch_size_or_threads(tmp_path):
    paths = [write_image(tmp_path / str(i), "png", category_image(i, np.random.default_rng(i), 48))
             for i in range(7)]
    model = build_backbone(PAPER_BACKBONES["efficientnetv2_b0"], SIZE, seed=1)
    a = extract_features(paths, model, SIZE, batch_size=7, threads=1)
    b = extract_features(paths, model, SIZE, batch_size=3, threads=2)
    assert a.shape == (7, 1280) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_sharded_extraction_merges_to_the_unsharded_result(tmp_path):
    paths = [write_image(tmp_path / str(i), "jpeg", category_image(i, np.random.default_rng(i), 48))
             for i in range(10)]
    ids = pd.Series([f"id{i}" for i in range(10)])
    model = build_backbone(PAPER_BACKBONES["convnext_tiny"], SIZE, seed=2)
    whole = features_table(ids, extract_features(paths, model, SIZE, 4, 2))
    parts = [features_table(ids[s], extract_features([paths[i] for i in range(10)[s]], model, SIZE, 4, 2))
             for s in (slice(6, 10), slice(0, 3), slice(3, 6))]  # out of order on purpose
    merged = merge_shards(ids, parts)
    assert merged.column("image_id").to_pylist() == list(ids)
    np.testing.assert_allclose(features_matrix(merged), features_matrix(whole), rtol=0, atol=1e-5)


def test_merge_refuses_missing_or_extra_ids():
    ids = pd.Series(["a", "b", "c"])
    table = features_table(["a", "b"], np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="1 missing"):
        merge_shards(ids, [table])
    with pytest.raises(ValueError, match="1 extra"):
        merge_shards(pd.Series(["a"]), [table])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Two backbones through Snakemake, twice in separate folders (the second for byte identity)."""
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path_factory.mktemp(name)
        config = small_config(backbones=TWO_BACKBONES, extract={"seed": 4, "mixed_precision": True, "gpus": 1})
        result = run_snakemake(workdir, config, "--cores", "2", "results/features/efficientnetv2_b0.parquet",
                               "results/features/convnext_tiny.parquet")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs.append(workdir)
    return runs


def test_features_files_follow_the_design(extracted):
    workdir = extracted[0]
    sample = pd.read_parquet(workdir / "results/manifest/sample.parquet")
    for backbone, dim in (("efficientnetv2_b0", 1280), ("convnext_tiny", 768)):
        path = workdir / f"results/features/{backbone}.parquet"
        table = pq.read_table(path)
        assert table.schema.names == ["image_id", "features"]
        assert str(table.schema.field("features").type) == f"fixed_size_list<element: float>[{dim}]"
        assert table.column("image_id").to_pylist() == list(sample["image_id"])
        matrix = features_matrix(table)
        assert np.isfinite(matrix).all() and matrix.std() > 0
        meta = read_metadata(path)
        assert {k: meta[k] for k in ("backbone", "input_size", "weights", "weights_sha256", "dim")} == {
            "backbone": backbone, "input_size": str(SIZE), "weights": "random", "weights_sha256": "", "dim": str(dim)}
        assert f'"{CPU_TENSORFLOW}": "2.21.0"' in meta["versions"] and '"seed": 4' in meta["provenance"]
        assert meta["mixed_precision"] == "false"  # requested, but there is no GPU: float32, and stamped so
    log = (workdir / "logs/extract/convnext_tiny/0-of-3.log").read_text()
    assert "no GPU is visible" in log and "img/s" in log
    assert not (workdir / "results/features/shards").exists() or not any((workdir / "results/features/shards").rglob("*.parquet"))


def test_two_runs_give_byte_identical_features(extracted):
    for backbone in TWO_BACKBONES:
        first, second = (w / f"results/features/{backbone}.parquet" for w in extracted)
        assert first.read_bytes() == second.read_bytes(), backbone


def test_an_interrupted_extraction_leaves_no_features_file_and_a_rerun_completes(tmp_path):
    # Ctrl-C while the extraction job is mid-way: after its first saved chunk of 4 images, with 36
    # images of 160 px still to go one at a time (seconds of work), so the job cannot have finished
    backbones = tiny_backbones("convnext_base", input_size=160, batch_size=1)
    config = small_config(backbones=backbones, extract={"seed": 0, "mixed_precision": False, "gpus": 1,
                                                        "chunk_size": 4})
    prepared = run_snakemake(tmp_path, config, "--cores", "2", "results/manifest/sample.parquet")
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    command = snakemake_command(tmp_path, "--cores", "2", "results/features/convnext_base.parquet")
    # a shell's background job ignores SIGINT, and the ignoring is inherited: give Ctrl-C its effect back
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    chunks = tmp_path / "results/features/resume/convnext_base/0-of-1"
    deadline = time.time() + 180
    while time.time() < deadline and not list(chunks.glob("*.npy")):
        time.sleep(0.05)
    saved = len(list(chunks.glob("*.npy")))
    assert process.poll() is None and 1 <= saved < 10, f"not interrupted mid-way ({saved} chunks saved)"
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    assert not (tmp_path / "results/features/convnext_base.parquet").exists()
    assert not list((tmp_path / "results/features").rglob("*.parquet"))
    rerun = run_snakemake(tmp_path, config, "--cores", "2", "--rerun-incomplete",
                          "results/features/convnext_base.parquet")
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert pq.read_table(tmp_path / "results/features/convnext_base.parquet").num_rows == 40


def test_a_job_killed_by_sigterm_resumes_from_its_chunks_to_the_same_bytes(tmp_path):
    """SLURM preempts or times out a job with SIGTERM: the rerun reads the finished chunks back and
    the features file is byte for byte the one an uninterrupted run writes."""
    config = small_config(backbones=tiny_backbones("convnext_base", input_size=64, batch_size=2),
                          extract={"seed": 0, "mixed_precision": False, "gpus": 1, "chunk_size": 4})
    target = "results/features/convnext_base.parquet"
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for workdir, goal in ((whole, target), (killed, "results/manifest/sample.parquet")):
        result = run_snakemake(workdir, config, "--cores", "2", goal)
        assert result.returncode == 0, result.stderr[-3000:]

    process = subprocess.Popen(snakemake_command(killed, target, "--cores", "2"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    chunks = killed / "results/features/resume/convnext_base/0-of-1"
    deadline = time.time() + 180
    while time.time() < deadline and len(list(chunks.glob("*.npy"))) < 2:
        time.sleep(0.05)
    jobs = [p for p in psutil.Process(process.pid).children(recursive=True)
            if any(part.endswith("extract.py") for part in p.cmdline())]
    assert len(jobs) == 1, "the extraction job finished before it could be killed"
    jobs[0].send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) != 0
    kept = len(list(chunks.glob("*.npy")))
    assert 2 <= kept < 10 and not (killed / target).exists()

    rerun = run_snakemake(killed, config, "--cores", "2", "--rerun-incomplete", target)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    log = (killed / "logs/extract/convnext_base/0-of-1.log").read_text()
    assert f"{kept} chunk(s) of 4 images read back from an interrupted run, {10 - kept} computed" in log
    assert (killed / target).read_bytes() == (whole / target).read_bytes()
    assert not chunks.exists()  # a finished job leaves no chunks behind


def test_chunks_are_reused_only_when_everything_that_made_them_matches(tmp_path):
    paths = [write_image(tmp_path / str(i), "png", category_image(i, np.random.default_rng(i), 40))
             for i in range(6)]
    ids, hashes = [f"id{i}" for i in range(6)], [f"h{i}" for i in range(6)]
    identity = {"backbone": "b", "params": {"input_size": SIZE}, "weights": {"sha256": "aa"}}
    store = ChunkStore(tmp_path / "chunks", identity)
    model = identity_model(SIZE)
    first = extract_resumable(paths, ids, hashes, model, SIZE, 2, 1, 4, store)  # chunks of 4 and 2 images
    assert len(list(store.folder.glob("*.npy"))) == 2
    poisoned = np.full((4, SIZE * SIZE * 3), -1, np.float32)
    store.save(store.key(ids[:4], hashes[:4]), poisoned)  # what a reuse would return
    np.testing.assert_array_equal(extract_resumable(paths, ids, hashes, model, SIZE, 2, 1, 4, store)[:4], poisoned)

    for other in (ChunkStore(store.folder, identity | {"weights": {"sha256": "bb"}}),  # other weights
                  ChunkStore(store.folder, identity | {"params": {"input_size": SIZE + 1}})):  # other size
        assert other.key(ids[:4], hashes[:4]) != store.key(ids[:4], hashes[:4])
        np.testing.assert_array_equal(extract_resumable(paths, ids, hashes, model, SIZE, 2, 1, 4, other), first)
    changed = hashes[:3] + ["h3-edited"] + hashes[4:]  # an image changed: its chunk is recomputed
    assert store.key(ids[:4], changed[:4]) != store.key(ids[:4], hashes[:4])
    np.testing.assert_array_equal(extract_resumable(paths, ids, changed, model, SIZE, 2, 1, 4, store), first)
    store.clear()
    assert not store.folder.exists()


def test_imagenet_offline_fails_with_how_to_prestage(tmp_path):
    config = small_config(weights="imagenet", backbones={"efficientnetv2_b0": TWO_BACKBONES["efficientnetv2_b0"]})
    result = run_snakemake(tmp_path, config, "--cores", "1", "resources/weights/efficientnetv2-b0_notop.h5")
    assert result.returncode != 0
    log = (tmp_path / "logs/fetch_weights/efficientnetv2-b0_notop.h5.log").read_text()
    assert "seems to be offline" in log and "Pre-stage the file" in log and "weights: <folder>" in log
    assert not (tmp_path / "resources/weights/efficientnetv2-b0_notop.h5").exists()


def test_a_wrong_prestaged_file_stops_extraction_naming_file_and_hash(tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "efficientnetv2-b0_notop.h5").write_bytes(b"\x89HDF\r\n" + bytes(1000))
    config = small_config(weights=str(staged), backbones={"efficientnetv2_b0": TWO_BACKBONES["efficientnetv2_b0"]})
    result = run_snakemake(tmp_path / "run", config, "--cores", "2", "results/features/efficientnetv2_b0.parquet")
    assert result.returncode != 0
    log = (tmp_path / "run/logs/extract/efficientnetv2_b0/0-of-1.log").read_text()
    assert f"{staged}/efficientnetv2-b0_notop.h5" in log and "893217f2bb855e2983157299931e43ff" in log
    assert not (tmp_path / "run/results/features/efficientnetv2_b0.parquet").exists()
