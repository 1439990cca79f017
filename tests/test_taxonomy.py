from __future__ import annotations

import pandas as pd
import pytest

from layers._errors import TaxonomyError
from layers.intake.taxonomy import UNASSIGNED, load_taxonomy


def test_configured_taxonomy_has_13_areas_with_descriptions(taxonomy):
    assert len(taxonomy.areas) == 13
    assert all(a.description and a.categories for a in taxonomy.areas)
    assert taxonomy.names[-1] == UNASSIGNED


def test_category_lookup_is_case_insensitive_and_unknown_goes_to_unassigned(taxonomy):
    areas = taxonomy.area_for(pd.Series(["murder", "Illegal dumping", "Flying saucer", None]))
    assert areas.tolist() == [
        "Violence prevention strategy",
        "By-law enforcement and public spaces",
        UNASSIGNED,
        UNASSIGNED,
    ]


def test_category_in_two_areas_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[area]]\nname = "A"\ndescription = "a"\ncategories = ["Murder"]\n'
        '[[area]]\nname = "B"\ndescription = "b"\ncategories = ["murder"]\n'
    )
    with pytest.raises(TaxonomyError, match="belong to one area only"):
        load_taxonomy(path)


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[[area]\nname=")
    with pytest.raises(TaxonomyError, match="not valid TOML"):
        load_taxonomy(path)
