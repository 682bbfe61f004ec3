"""MMI Facial Expression Database: posed expression videos (onset-apex-offset) with session metadata."""

from __future__ import annotations

import glob
import os
import xml.etree.ElementTree as ET

from data_pipelines.common.builder import FerBuilder
from data_pipelines.common.face_crop_builder import FaceCropBuilder, face_protocol
from data_pipelines.common.folds import split_by_fold
from data_pipelines.common.sources import ClipSource


class Mmi(FaceCropBuilder, FerBuilder):
    """MMI: the sessions whose annotation file carries an ``Emotion`` metatag (six basic emotions)."""

    name = "mmi"
    LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")  # MMI Emotion values 1..6
    N_FOLDS = 10
    REQUIRED = ("Sessions",)
    PROTOCOL = ("Sessions/<n>/session.xml gives the subject (<subject id=...>); the session's video "
                "Sessions/<n>/<name>.avi is one clip, labelled by <Metatag Name='Emotion' Value='1..6'> in "
                "Sessions/<n>/<name>.xml; sessions without it (AU-only) are not used. Apex not annotated "
                "(-1). 10 subject-independent folds by subject (sorted, round-robin): fold0..fold9."
                ) + face_protocol(FaceCropBuilder.FACE_CROP)
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Request the MMI Facial Expression Database at https://mmifacedb.eu/ , download the sessions with
    their metadata, and extract them so that manual_dir holds
      Sessions/<session id>/session.xml, Sessions/<session id>/S001-001.avi, Sessions/<session id>/S001-001.xml
    """

    def _list_sources(self, root: str) -> dict[str, list]:
        sources = []
        for session in sorted(glob.glob(os.path.join(root, "Sessions", "*"))):
            meta = os.path.join(session, "session.xml")
            if not os.path.isfile(meta):
                continue
            try:
                subject_el = ET.parse(meta).getroot().find(".//subject")
                if subject_el is None or "id" not in subject_el.attrib:
                    raise ValueError("no <subject id=...> element")
                subject = f"S{int(subject_el.attrib['id']):03d}"
            except (ET.ParseError, ValueError) as e:
                self.skip(meta, f"unreadable session metadata ({e})")
                continue
            for video in sorted(glob.glob(os.path.join(session, "*.avi"))):
                ann = os.path.splitext(video)[0] + ".xml"
                if not os.path.isfile(ann):
                    continue
                try:
                    tags = {t.get("Name"): t.get("Value") for t in ET.parse(ann).getroot().iter("Metatag")}
                except ET.ParseError as e:
                    self.skip(ann, f"unreadable annotation ({e})")
                    continue
                if "Emotion" not in tags:
                    continue  # an AU-only session: no expression label
                code = int(tags["Emotion"])
                if not 1 <= code <= 6:
                    self.skip(ann, f"emotion value {code} outside 1..6")
                    continue
                stem = os.path.splitext(os.path.basename(video))[0]
                sources.append(ClipSource(clip_id=f"{os.path.basename(session)}_{stem}", subject=subject,
                                          label=code - 1, video=video))
        return split_by_fold(sources, lambda s: s.subject, self.N_FOLDS)
