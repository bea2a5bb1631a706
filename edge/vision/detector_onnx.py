"""The one module that owns onnxruntime: a YOLOX person detector on the CPU provider.

The session is built from bytes that passed the manifest's SHA-256 check, with a
configurable number of intra-op threads (one by default: the pole has other work) and one
inter-op thread, and is warmed up before the first real frame. OpenCV does the letterbox
resize; decode and NMS are the pure functions of :mod:`edge.vision.yolox`. ONNX Runtime
errors are translated to :class:`DetectorError` here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from edge.vision.manifest import ModelEntry, verify_model
from edge.vision.yolox import Detections, blob_from_resized, decode, letterbox_geometry, nms

log = logging.getLogger(__name__)


class DetectorError(RuntimeError):
    """The runtime could not load or run the model."""


class OnnxYoloxDetector:
    """Person detector for YOLOX-format models; holds no frame after ``detect`` returns."""

    def __init__(
        self,
        *,
        model_bytes: bytes,
        entry: ModelEntry,
        name: str,
        threads: int = 1,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        warmup_runs: int = 1,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The arena grows to the largest activation set and keeps it; with one fixed input
        # shape that is stable, and turning it off costs latency for no RSS gain here.
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"onnxruntime cannot load {entry.file}: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise DetectorError(f"{entry.file}: expected one input, found {len(inputs)}")
        shape = list(inputs[0].shape)
        if shape[-2:] != [entry.input.height, entry.input.width]:
            raise DetectorError(
                f"{entry.file}: input shape {shape} differs from the manifest's "
                f"{entry.input.width}x{entry.input.height}"
            )
        self._input_name = inputs[0].name
        self._entry = entry
        self._name = name
        self._score_threshold = score_threshold
        self._nms_iou = nms_iou
        for _ in range(warmup_runs):
            self._run(np.zeros((1, 3, entry.input.height, entry.input.width), np.float32))
        log.info(
            "loaded %s (%s, %dx%d, %d thread(s))",
            name,
            entry.file,
            entry.input.width,
            entry.input.height,
            threads,
        )

    @classmethod
    def from_file(
        cls,
        *,
        path: Path,
        entry: ModelEntry,
        name: str,
        threads: int = 1,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        warmup_runs: int = 1,
    ) -> OnnxYoloxDetector:
        """Load ``path`` after checking it against the manifest entry.

        Raises ModelRefusedError when the file is missing or its SHA-256 differs, and
        DetectorError when ONNX Runtime cannot load it.
        """
        return cls(
            model_bytes=verify_model(path, entry),
            entry=entry,
            name=name,
            threads=threads,
            score_threshold=score_threshold,
            nms_iou=nms_iou,
            warmup_runs=warmup_runs,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def input_size(self) -> tuple[int, int]:
        return (self._entry.input.width, self._entry.input.height)

    def _run(self, blob: NDArray[np.float32]) -> NDArray[np.float32]:
        try:
            out = self._session.run(None, {self._input_name: blob})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"{self._entry.file}: inference failed: {exc}") from exc
        return np.asarray(out[0], dtype=np.float32)

    def detect(self, image: NDArray[np.uint8]) -> Detections:
        """People in a BGR ``image`` of any size, NMS applied, boxes in its pixels."""
        h, w = image.shape[:2]
        box = letterbox_geometry(h, w, in_h=self._entry.input.height, in_w=self._entry.input.width)
        resized = cv2.resize(image, (box.new_w, box.new_h), interpolation=cv2.INTER_LINEAR)
        raw = self._run(blob_from_resized(np.asarray(resized, dtype=np.uint8), box))
        dets = decode(
            raw,
            box,
            class_index=self._entry.person_class,
            score_threshold=self._score_threshold,
            strides=self._entry.strides,
        )
        return nms(dets, iou_threshold=self._nms_iou)
