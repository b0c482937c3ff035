"""The superpixel GrabCut (bokehcli.cues.graphcut) against simple references: its min cut against
every labelling of a small graph, its region graph against the pixel energy it coarsens, and,
with one region per pixel, the whole algorithm against OpenCV's pixel GrabCut."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from bokehcli.cues import graphcut
from photos import disc_scene


def _pixel_regions(height: int, width: int) -> np.ndarray:
    return np.arange(height * width, dtype=np.int32).reshape(height, width)


def _energy(labels: np.ndarray, edges: np.ndarray, weights: np.ndarray, source_costs: np.ndarray,
            sink_costs: np.ndarray) -> float:
    """Cost of a labelling (True: source side) as min_cut defines it."""
    data = np.where(labels, sink_costs, source_costs).sum()
    return float(data + weights[labels[edges[:, 0]] != labels[edges[:, 1]]].sum())


def test_min_cut_finds_the_least_energy_labelling_of_a_small_graph():
    rng = np.random.default_rng(3)
    count = 9
    edges = np.array([(a, b) for a in range(count) for b in range(a + 1, count) if rng.random() < 0.5])
    for _ in range(20):
        weights = rng.uniform(0.0, 3.0, len(edges))
        source_costs, sink_costs = rng.uniform(-2.0, 4.0, count), rng.uniform(-2.0, 4.0, count)  # negative too
        found = graphcut.min_cut(count, edges, weights, source_costs, sink_costs)
        best = min(_energy(np.array(bits, bool), edges, weights, source_costs, sink_costs)
                   for bits in itertools.product((False, True), repeat=count))
        assert _energy(found, edges, weights, source_costs, sink_costs) == pytest.approx(best, abs=1e-2)


def test_the_region_graph_carries_the_pixel_energy_of_every_region_constant_labelling():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    rgb[6:18, 8:22] = (200, 40, 40)
    regions, count = graphcut.superpixels(rgb)
    coarse = graphcut.region_graph(rgb, regions, count)
    fine = graphcut.region_graph(rgb, _pixel_regions(*regions.shape), regions.size)
    for _ in range(5):
        per_region = rng.random(count) < 0.5
        per_pixel = per_region[regions].ravel()
        zero_region, zero_pixel = np.zeros(count), np.zeros(regions.size)
        assert _energy(per_region, coarse.edges, coarse.weights, zero_region, zero_region) == pytest.approx(
            _energy(per_pixel, fine.edges, fine.weights, zero_pixel, zero_pixel), rel=1e-9)


def _seeds(hw: tuple[int, int]) -> np.ndarray:
    """GrabCut's seeds for :func:`photos.disc_scene`: a sure-subject square at the disc's centre, a
    probable-subject box around it, sure background along the border."""
    height, width = hw
    mask = np.full(hw, cv2.GC_PR_BGD, np.uint8)
    mask[height // 6: -(height // 6), width // 6: -(width // 6)] = cv2.GC_PR_FGD
    mask[height // 2 - 3: height // 2 + 3, width // 2 - 3: width // 2 + 3] = cv2.GC_FGD
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    return mask


def _subject(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


@pytest.mark.parametrize("iterations", [1, 3])
def test_one_region_per_pixel_is_opencvs_pixel_grabcut(iterations):
    rgb, _ = disc_scene(48, 64)
    mask = _seeds(rgb.shape[:2])
    theirs = mask.copy()
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), theirs, None, np.zeros((1, 65)), np.zeros((1, 65)),
                iterations, cv2.GC_INIT_WITH_MASK)
    cv2.setRNGSeed(0)
    ours = graphcut.grabcut(graphcut.region_graph(rgb, _pixel_regions(*mask.shape), mask.size), mask, iterations)
    assert np.array_equal(_subject(ours), _subject(theirs))
    assert np.array_equal(ours[mask == cv2.GC_FGD], mask[mask == cv2.GC_FGD])     # sure labels stay
    assert np.array_equal(ours[mask == cv2.GC_BGD], mask[mask == cv2.GC_BGD])


def test_superpixel_grabcut_segments_the_disc():
    rgb, disc = disc_scene(120, 160)
    mask = _seeds(rgb.shape[:2])
    graph = graphcut.superpixel_graph(rgb)
    assert 100 < graph.count < mask.size / 10                  # a much smaller graph than the pixels'
    found = _subject(graphcut.grabcut(graph, mask, 3))
    assert (found & disc).sum() / (found | disc).sum() > 0.9


@pytest.mark.parametrize("height, width", [(1, 1), (1, 40), (40, 1), (3, 3)])
def test_an_image_narrower_than_a_superpixel_is_cut_on_its_pixels(height, width):
    """OpenCV's SLIC crashes the process on a side of one pixel: such images keep their pixels."""
    regions, count = graphcut.superpixels(np.full((height, width, 3), 128, np.uint8))
    assert count == height * width and np.array_equal(np.sort(regions.ravel()), np.arange(count))


def test_a_side_with_fewer_pixels_than_components_gets_one_component_each():
    """Two subject pixels in a 2x3 image: the mixture starts with a component per pixel."""
    rgb = np.array([[[200, 40, 40], [190, 50, 45], [30, 120, 160]], [[35, 125, 150], [30, 110, 170], [40, 130, 160]]],
                   np.uint8)
    mask = np.full((2, 3), cv2.GC_PR_BGD, np.uint8)
    mask[0, :2] = cv2.GC_FGD
    labels = graphcut.grabcut(graphcut.superpixel_graph(rgb), mask, 2)
    assert _subject(labels).tolist() == [[True, True, False], [False, False, False]]


@pytest.mark.parametrize("label", [cv2.GC_PR_FGD, cv2.GC_PR_BGD])
def test_a_mask_with_one_side_only_comes_back_unchanged(label):
    rgb, _ = disc_scene(48, 64)
    mask = np.full(rgb.shape[:2], label, np.uint8)
    assert np.array_equal(graphcut.grabcut(graphcut.superpixel_graph(rgb), mask, 3), mask)
