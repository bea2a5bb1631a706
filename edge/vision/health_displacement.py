"""Has the camera been turned? ORB features against a reference view, RANSAC homography.

ORB is free, fast and rotation-aware; RANSAC keeps people and cars that move through the
scene from dragging the estimate. The answer is how far the frame corners moved (pixels at
analysis resolution) and how many matches agreed on it: a camera pointed somewhere else
entirely agrees on almost nothing, which the caller compares with the baseline's count.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.health_types import GreyImage

_RANSAC_PX = 3.0


@dataclass(frozen=True, slots=True)
class Match:
    shift_px: float | None  # mean corner displacement, analysis pixels; None = no estimate
    inliers: int


class ReferenceView:
    """ORB keypoints of one reference frame; only descriptors are kept, never the image."""

    def __init__(self, small: GreyImage, *, features: int = 500) -> None:
        self._orb = cv2.ORB.create(nfeatures=features)
        self._matcher = cv2.BFMatcher.create(cv2.NORM_HAMMING, crossCheck=True)
        keypoints, descriptors = self._orb.detectAndCompute(small, None)
        self.keypoints = len(keypoints)
        self._points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
        self._descriptors = descriptors
        h, w = small.shape
        self._corners = np.array(
            [[[0, 0]], [[w - 1, 0]], [[w - 1, h - 1]], [[0, h - 1]]], dtype=np.float32
        )

    def match(self, small: GreyImage) -> Match:
        """Estimate how ``small`` (same size as the reference) moved against the reference."""
        if self._descriptors is None or self.keypoints < 4:
            return Match(shift_px=None, inliers=0)
        keypoints, descriptors = self._orb.detectAndCompute(small, None)
        if descriptors is None or len(keypoints) < 4:
            return Match(shift_px=None, inliers=0)
        matches = self._matcher.match(self._descriptors, descriptors)
        if len(matches) < 4:
            return Match(shift_px=None, inliers=0)
        src = self._points[[m.queryIdx for m in matches]].reshape(-1, 1, 2)
        dst = np.array([keypoints[m.trainIdx].pt for m in matches], dtype=np.float32).reshape(
            -1, 1, 2
        )
        homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, _RANSAC_PX)
        # OpenCV returns no model (None or an empty array) when RANSAC finds none.
        if getattr(homography, "shape", None) != (3, 3) or getattr(mask, "size", 0) == 0:
            return Match(shift_px=None, inliers=0)
        inliers = int(np.count_nonzero(mask))
        moved = np.asarray(cv2.perspectiveTransform(self._corners, homography), dtype=np.float32)
        shift = float(np.linalg.norm((moved - self._corners).reshape(-1, 2), axis=1).mean())
        return Match(shift_px=shift, inliers=inliers)
