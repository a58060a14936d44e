"""Feature repository: definitions as code, apply, materialisation, point-in-time joins.

Timelines are written by hand so every expected value can be read off the test: late
data, ties, missing entities and TTL, on SQLite and on PostgreSQL (``backend``).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.errors import NotFoundError, UsageError
from mlops_jupyter.features import pit

T0 = pd.Timestamp("2025-01-01")


def t(days: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=days)


VIEWS = '''
import pandas as pd
from mlops_jupyter.features import Feature, feature_view

def scale(x):
    return x * 1.0

@feature_view(entity="customer_id", timestamp="ts", source="events", created="loaded_at",
              features=[Feature("spend", "float", "amount of the event"),
                        Feature("n_events", "int", "events so far")])
def customer_stats(ev: pd.DataFrame) -> pd.DataFrame:
    """Per-customer spend and running count."""
    out = ev.sort_values(["ts", "loaded_at"], kind="stable").copy()
    out["spend"] = scale(out["amount"])
    out["n_events"] = out.groupby("customer_id").cumcount() + 1
    return out

@feature_view(entity="customer_id", timestamp="ts", source="events",
              features={"big": ("bool", "amount over 25")})
def flags(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.assign(big=ev["amount"] > 25)
'''


def write_views(root: Path, text: str = VIEWS, name: str = "customers.py") -> Path:
    folder = root / "features"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def events() -> pd.DataFrame:
    """Customer 1: events at days 1, 3, 5 and a late row for day 2 (appended last).
    Customer 2: two rows at day 4 (a tie); the one loaded later (41.0) must win.
    Customer 3 has no events."""
    rows = [
        (1, t(1), 10.0, t(1)), (1, t(3), 30.0, t(3)), (1, t(5), 50.0, t(5)),
        (2, t(4), 41.0, t(4.6)), (2, t(4), 40.0, t(4.5)),
        (1, t(2), 20.0, t(9)),  # late: event on day 2, loaded on day 9
    ]
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount", "loaded_at"])


@pytest.fixture
def project(mlops_home: Path) -> Path:
    root = mlops_home.parent
    write_views(root)
    mj.datasets.add(events(), name="events")
    return root


def entity_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 1, 2, 2, 3],
        "ts": [t(0), t(1), t(2.5), t(4), t(10), t(4), t(3.9), t(5)],
        "label": [0, 1, 0, 1, 0, 1, 0, 1],
    })


def test_point_in_time_timeline(backend: str, project: Path) -> None:
    res = mj.features.apply()
    assert [(c.view, c.status, c.version) for c in res.changes] == [
        ("customer_stats", "new", 1), ("flags", "new", 1)]
    ent = entity_frame()
    frame = mj.features.training_frame(ent, ["customer_stats:spend", "customer_stats:n_events"])
    # never a value from the future; exact timestamps count; late data used from its event time
    assert frame["spend"].tolist()[:5] == [pytest.approx(np.nan, nan_ok=True), 10.0, 20.0, 30.0, 50.0]
    assert np.isnan(frame["spend"].iloc[0])
    # the tie at day 4 goes to the row loaded last; before day 4 customer 2 has nothing
    assert frame["spend"].iloc[5] == 41.0 and np.isnan(frame["spend"].iloc[6])
    # a customer never seen: missing, not an error
    assert np.isnan(frame["spend"].iloc[7]) and np.isnan(frame["n_events"].iloc[7])
    # the running count sees the late day-2 row in its event-time place
    assert frame["n_events"].iloc[1:5].tolist() == [1, 2, 3, 4]
    # the entity frame is kept as given: order, index, columns
    assert frame[["customer_id", "ts", "label"]].equals(ent)
    assert frame.attrs["mlops_dataset"].startswith("training-frame@v")
    assert [m["ref"] for m in frame.attrs["mlops_features"]] == [
        "customer_stats@v1:spend", "customer_stats@v1:n_events"]
    # TTL: 2 days -> the day-10 row (last event day 5) and day 2.5 (day 2: 0.5 d) differ
    short = mj.features.training_frame(ent, ["customer_stats:spend"], ttl="2d", name=None)
    assert np.isnan(short["spend"].iloc[4]) and short["spend"].iloc[2] == 20.0
    assert "mlops_dataset" not in short.attrs
    per_view = mj.features.training_frame(ent, ["customer_stats:spend"], ttl={"customer_stats": "6d"}, name=None)
    assert per_view["spend"].iloc[4] == 50.0


def test_timezones_and_bool_features(project: Path) -> None:
    mj.features.apply()
    ent = entity_frame()
    ent["ts"] = ent["ts"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    frame = mj.features.training_frame(ent, ["flags:big", "customer_stats:spend"], name=None)
    assert frame["spend"].iloc[2] == 20.0  # same instants, other zone
    assert frame["big"].iloc[4] is True or frame["big"].iloc[4] == True  # noqa: E712
    assert pd.isna(frame["big"].iloc[7])


def reference_asof(feat: pd.DataFrame, ent: pd.DataFrame, ttl: pd.Timedelta | None) -> list[float]:
    """The definition, one row at a time: latest row with ts <= t (ties: last in order)."""
    out = []
    for k, when in zip(ent["k"], ent["ts"], strict=True):
        rows = feat[(feat["k"] == k) & (feat["ts"] <= when)]
        if ttl is not None:
            rows = rows[rows["ts"] >= when - ttl]
        if rows.empty:
            out.append(np.nan)
        else:
            best = rows[rows["ts"] == rows["ts"].max()]
            out.append(float(best["v"].iloc[-1]))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("keys", ["int", "str", "wide", "sparse"])
def test_asof_matches_row_by_row_reference(seed: int, keys: str) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    feat = pd.DataFrame({
        "k": rng.integers(0, 12, n), "ts": T0 + pd.to_timedelta(rng.integers(0, 40, n), unit="D"),
        "v": np.arange(n, dtype=float),
    })
    ent = pd.DataFrame({"k": rng.integers(0, 15, 200),
                        "ts": T0 + pd.to_timedelta(rng.integers(-2, 45, 200), unit="D")})
    if keys == "wide":  # 250 years x 12 keys overflows 1 ns composites: coarser quanta
        base = pd.Timestamp("1700-01-01").value
        span = pd.Timestamp("1950-01-01").value - base
        pick = rng.integers(0, span, 40)  # shared instants (ties), then 0-3 ns apart
        feat["ts"] = pd.to_datetime(base + rng.choice(pick, n) + rng.integers(0, 4, n))
        ent["ts"] = pd.to_datetime(base + rng.choice(pick, 200) + rng.integers(-2, 5, 200))
        sf = pit.prepare(pit.sort_features(feat, "k", "ts"), "k", "ts", ["v"])
        assert sf.index().q > 1
    if keys == "str":
        feat["k"], ent["k"] = "c" + feat["k"].astype(str), "c" + ent["k"].astype(str)
    if keys == "sparse":  # ids too spread for a lookup table: binary search among keys
        feat["k"], ent["k"] = feat["k"] * 10**12 - 5, ent["k"] * 10**12 - 5
        assert pit.prepare(pit.sort_features(feat, "k", "ts"), "k", "ts", ["v"]).index().table is None
    srt = pit.sort_features(feat, "k", "ts")
    sf = pit.prepare(srt, "k", "ts", ["v"])
    for ttl in (None, pd.Timedelta(days=5)):
        idx = pit.lookup(sf, ent["k"].to_numpy(), pit.times_ns(ent["ts"], "ts"),
                         None if ttl is None else ttl.value)
        got = pit.gather(sf, idx, ["v"])["v"]
        # ties resolve to the row the function returned last: the sort is stable
        np.testing.assert_array_equal(np.asarray(got, dtype=float), reference_asof(feat, ent, ttl))


def test_bad_inputs_get_one_clear_message(project: Path) -> None:
    mj.features.apply()
    ent = entity_frame()
    with pytest.raises(NotFoundError, match="customer_stats, flags"):
        mj.features.training_frame(ent, ["nope:spend"])
    with pytest.raises(UsageError, match="features: spend, n_events"):
        mj.features.training_frame(ent, ["customer_stats:nope"])
    with pytest.raises(UsageError, match="VIEW:FEATURE"):
        mj.features.training_frame(ent, ["customer_stats"])
    with pytest.raises(UsageError, match="no entity key column 'customer_id'.*columns"):
        mj.features.training_frame(ent.drop(columns="customer_id"), ["customer_stats:spend"])
    with pytest.raises(UsageError, match="no timestamp column 'ts'.*timestamp="):
        mj.features.training_frame(ent.rename(columns={"ts": "when"}), ["customer_stats:spend"])
    with pytest.raises(UsageError, match="must hold datetimes.*pd.to_datetime"):
        mj.features.training_frame(ent.assign(ts=ent["ts"].astype(str)), ["customer_stats:spend"])
    with pytest.raises(UsageError, match="duration"):
        mj.features.training_frame(ent, ["customer_stats:spend"], ttl="soon")
    with pytest.raises(UsageError, match="ttl names view"):
        mj.features.training_frame(ent, ["customer_stats:spend"], ttl={"other": "1d"})
    with pytest.raises(NotFoundError, match="has no version 7; versions: v1"):
        mj.features.training_frame(ent, ["customer_stats@v7:spend"])
    with pytest.raises(UsageError, match="keys are numbers: convert one side"):
        mj.features.training_frame(ent.assign(customer_id=ent["customer_id"].astype(str)),
                                   ["customer_stats:spend"], name=None)
    with pytest.raises(UsageError, match="pandas DataFrame"):
        mj.features.training_frame([1, 2], ["customer_stats:spend"])
    with pytest.raises(UsageError, match="full_names=True"):
        mj.features.training_frame(ent.assign(spend=1.0), ["customer_stats:spend"])


def test_apply_reports_changes_and_owner(project: Path) -> None:
    first = mj.features.apply()
    assert {c.status for c in first.changes} == {"new"}
    again = mj.features.apply()
    assert {c.status for c in again.changes} == {"unchanged"}
    # editing only a helper the view calls is a change of that view alone
    write_views(project, VIEWS.replace("return x * 1.0", "return x * 2.0"))
    res = mj.features.apply()
    by = {c.view: c for c in res.changes}
    assert by["customer_stats"].status == "changed" and by["customer_stats"].version == 2
    assert by["customer_stats"].previous == 1 and "code changed" in by["customer_stats"].details
    assert by["flags"].status == "unchanged"
    assert "changed   customer_stats v2 (was v1)" in str(res)
    defs = mj.features.definitions("customer_stats")
    assert defs["version"].tolist() == [1, 2] and defs["owner"].notna().all()
    # a declared type change is named
    write_views(project, VIEWS.replace('Feature("n_events", "int"', 'Feature("n_events", "float"'))
    res = mj.features.apply()
    assert "feature n_events: type int -> float" in {c.view: c for c in res.changes}["customer_stats"].details
    # a view whose file is gone is reported, not deleted
    (project / "features" / "customers.py").unlink()
    res = mj.features.apply()
    assert {c.status for c in res.changes} == {"missing"}


def test_changed_definition_invalidates_only_its_materialisations(project: Path) -> None:
    mj.features.apply()
    a1, b1 = mj.features.materialize("customer_stats"), mj.features.materialize("flags")
    assert not a1.reused and not b1.reused
    assert a1.source == "events@v1" and a1.dataset.startswith("features.customer_stats@v")
    # reused while neither the definition nor the source changes
    assert mj.features.materialize("customer_stats").reused
    write_views(project, VIEWS.replace("return x * 1.0", "return x * 2.0"))
    mj.features.apply()
    a2, b2 = mj.features.materialize("customer_stats"), mj.features.materialize("flags")
    assert b2.reused and b2.id == b1.id
    assert not a2.reused and a2.definition_version == 2 and a2.dataset != a1.dataset
    frame = mj.features.training_frame(entity_frame(), ["customer_stats:spend"], name=None)
    assert frame["spend"].iloc[1] == 20.0
    # the old version stays reachable for reproduction
    old = mj.features.training_frame(entity_frame(), ["customer_stats@v1:spend"], name=None)
    assert old["spend"].iloc[1] == 10.0
    # a new source version is a new materialisation of both
    mj.datasets.add(pd.concat([events(), events().assign(customer_id=9)]), name="events")
    assert not mj.features.materialize("flags").reused
    # the old version's code is gone: over the new source it cannot be computed, and says so
    with pytest.raises(UsageError, match="v1 was never materialised over events@v2.*latest version \\(v2\\)"):
        mj.features.materialize("customer_stats", version=1)
    assert mj.features.materialize("customer_stats", version=1, source="events@v1").reused


def test_code_edited_but_not_applied_is_refused(project: Path) -> None:
    mj.features.apply()
    write_views(project, VIEWS.replace("return x * 1.0", "return x * 3.0"))
    with pytest.raises(UsageError, match="differs from its applied version v1.*apply"):
        mj.features.materialize("customer_stats")


def test_view_output_is_checked(project: Path) -> None:
    bad = VIEWS.replace('out["n_events"] = out.groupby("customer_id").cumcount() + 1',
                        'out["n_events"] = "many"')
    write_views(project, bad)
    mj.features.apply()
    with pytest.raises(UsageError, match="customer_stats:n_events is declared int"):
        mj.features.materialize("customer_stats")


def test_definitions_load_only_from_the_project(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "evil.py"
    outside.write_text("raise SystemExit('ran code from outside the project')\n")
    os.symlink(outside, project / "features" / "evil.py")
    with pytest.raises(UsageError, match="evil.py leads outside the project"):
        mj.features.apply()
    (project / "features" / "evil.py").unlink()
    with pytest.raises(UsageError, match="not a definition file of this project"):
        from mlops_jupyter.features import loader

        loader.load_views(project, only=str(outside))
    write_views(project, "raise RuntimeError('boom')\n", name="broken.py")
    with pytest.raises(UsageError, match="features/broken.py failed to load: RuntimeError: boom"):
        mj.features.apply()


def test_declaration_errors() -> None:
    from mlops_jupyter.features import Feature, feature_view

    with pytest.raises(UsageError, match="type must be one of float, int, bool, str, datetime"):
        Feature("x", "decimal")
    def v(df: pd.DataFrame) -> pd.DataFrame:
        return df

    with pytest.raises(UsageError, match="declared twice"):
        feature_view(entity="k", timestamp="ts", source="s", features=[Feature("a"), Feature("a")])(v)
    with pytest.raises(UsageError, match="named function"):
        feature_view(entity="k", timestamp="ts", source="s", features={"a": "float"})(lambda df: df)
    with pytest.raises(UsageError, match="entity or timestamp"):
        feature_view(entity="k", timestamp="ts", source="s", features={"k": "int"})(v)
    with pytest.raises(UsageError, match="positive duration"):
        feature_view(entity="k", timestamp="ts", source="s", features={"a": "float"}, ttl=-5)(v)


def test_frame_lineage_reaches_runs_models_and_catalogue(project: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    mj.features.apply()
    with mj.start_run(name="train") as run:
        frame = mj.features.training_frame(entity_frame(), ["customer_stats:spend", "flags:big"])
    assert "customer_stats@v1:spend" in mj.get_run(run.id).tags["mlops.features"]
    X = frame[["spend"]].fillna(0.0)
    model = LogisticRegression().fit(X, frame["label"])
    mv = mj.models.register(model, "churn", signature=X, dataset=frame.attrs["mlops_dataset"], run=False)
    feats = mj.features.model_features(f"churn@v{mv.version}")
    assert [f["ref"] for f in feats] == ["flags@v1:big", "customer_stats@v1:spend"]
    cat = mj.features.catalogue().to_frame()
    assert cat.set_index("feature").loc["spend", "models"] == "churn@v1"
    assert cat.set_index("feature").loc["n_events", "models"] == ""
    assert mj.features.catalogue("running count").to_frame()["feature"].tolist() == []
    assert mj.features.catalogue("events so far").to_frame()["feature"].tolist() == ["n_events"]
    with pytest.raises(NotFoundError, match="not trained on a feature training frame"):
        mj.models.register(model, "plain", signature=X, run=False)
        mj.features.model_features("plain@v1")


def test_catalogue_html_escapes_user_text(project: Path) -> None:
    write_views(project, VIEWS.replace("amount of the event", "<script>alert(1)</script>"))
    mj.features.apply()
    mj.features.materialize("customer_stats")
    html = mj.features.catalogue()._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "mean" in html and "never" in html  # flags is not materialised yet
    html = mj.features.catalogue("<b>")._repr_html_()
    assert "<b>" not in html.split("</b>", 1)[1]


def test_cli_apply_list_show_materialize(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_jupyter.cli import main

    assert main(["features", "apply"]) == 0
    assert "new       customer_stats v1" in capsys.readouterr().out
    assert main(["features", "materialize", "customer_stats"]) == 0
    assert "over events@v1" in capsys.readouterr().out
    assert main(["features", "list", "--search", "running"]) == 0
    out = capsys.readouterr().out
    assert "n_events" not in out  # "running" is in no description (it is "events so far")
    assert main(["features", "list"]) == 0
    out = capsys.readouterr().out
    assert "n_events" in out and "spend" in out and "big" in out
    assert main(["features", "show", "customer_stats"]) == 0
    out = capsys.readouterr().out
    assert "entity customer_id" in out and "features/customers.py" in out
    assert main(["features", "show", "ghost"]) == 2
    assert "no feature view 'ghost'; applied views: customer_stats, flags" in capsys.readouterr().err
    assert main(["features"]) == 2


@pytest.mark.slow
def test_train_template_with_features(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_jupyter.cli import main

    mj.features.apply()
    rng = np.random.default_rng(3)
    ents = pd.DataFrame({"customer_id": rng.integers(1, 3, 60),
                         "ts": [t(float(d)) for d in rng.uniform(1, 9, 60)]})
    ents["label"] = (ents["customer_id"] == 1).astype(int)
    mj.datasets.add(ents, name="labels")
    code = main(["run", "train", "--no-progress", "-p", "dataset=labels", "-p", "target=label",
                 "-p", "features=customer_stats:spend,customer_stats:n_events", "-p", "model=linear",
                 "-p", "model_name=churn"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "churn@v1" in out.out and mj.datasets.get("labels-features").version == 1
    feats = mj.features.model_features("churn@v1")
    assert [f["ref"] for f in feats] == ["customer_stats@v1:n_events", "customer_stats@v1:spend"]
    assert [c.name for c in mj.models.get("churn@v1").input_signature.columns] == ["spend", "n_events"]


def test_odd_entity_frames(project: Path) -> None:
    mj.features.apply()
    ent = entity_frame()
    dup = ent.set_index(pd.Index([7] * len(ent)))  # duplicate index labels are kept as given
    frame = mj.features.training_frame(dup, ["customer_stats:spend"], name=None)
    assert frame.index.tolist() == [7] * len(ent) and frame["spend"].iloc[2] == 20.0
    empty = mj.features.training_frame(ent.iloc[:0], ["customer_stats:spend"], name=None)
    assert len(empty) == 0 and "spend" in empty.columns
    nat = ent.copy()
    nat.loc[2, "ts"] = pd.NaT  # no time, no value (never a match)
    frame = mj.features.training_frame(nat, ["customer_stats:spend"], name=None)
    assert np.isnan(frame["spend"].iloc[2]) and frame["spend"].iloc[3] == 30.0


def test_magic_verbs(project: Path) -> None:
    from IPython.core.error import UsageError as IPyUsageError

    from mlops_jupyter.magics import dispatch

    res = dispatch(None, "features apply")
    assert [c.status for c in res.changes] == ["new", "new"]
    with pytest.raises(IPyUsageError, match="unknown action 'bogus'; use one of list, apply, show, materialize"):
        dispatch(None, "features bogus")
    with pytest.raises(IPyUsageError, match="no feature view 'ghost'; applied views: customer_stats, flags"):
        dispatch(None, "features show ghost")
    shown = dispatch(None, "features show flags")
    assert shown["version"].tolist() == [1]


def _materialisation_blob(m: object) -> Path:
    st = mj.get_store()
    dv = st.get_dataset_version_by_id(m.dataset_version_id)  # type: ignore[attr-defined]
    return st.blobs.local_path(dv.blob)


EXPECTED_SPEND = [np.nan, 10.0, 20.0, 30.0, 50.0, 41.0, np.nan, np.nan]


def test_materialisation_stored_as_arrow_and_refused_when_tampered(project: Path) -> None:
    from mlops_jupyter.errors import IntegrityError
    from mlops_jupyter.features import repository

    mj.features.apply()
    m = mj.features.materialize("customer_stats")
    path = _materialisation_blob(m)
    assert path.read_bytes()[:6] == b"ARROW1"
    # a dataset like any other: loads as a DataFrame in join order
    assert mj.datasets.load(m.dataset)["spend"].tolist() == [10.0, 20.0, 30.0, 50.0, 40.0, 41.0]
    repository.clear_cache()
    frame = mj.features.training_frame(entity_frame(), ["customer_stats:spend"], name=None)
    np.testing.assert_array_equal(frame["spend"].to_numpy(), EXPECTED_SPEND)
    repository.clear_cache()
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="corrupt"):
        mj.features.training_frame(entity_frame(), ["customer_stats:spend"], name=None)


def test_parquet_materialisation_from_an_earlier_release_still_joins(
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlops_jupyter.datasets import ingest
    from mlops_jupyter.features import repository

    mj.features.apply()
    with monkeypatch.context() as mp:
        mp.setattr(ingest, "_write_arrow", ingest._write_parquet)  # what releases before wrote
        m = mj.features.materialize("customer_stats")
    assert _materialisation_blob(m).read_bytes()[:4] == b"PAR1"
    repository.clear_cache()
    assert mj.features.materialize("customer_stats").reused
    frame = mj.features.training_frame(entity_frame(), ["customer_stats:spend", "customer_stats:n_events"], name=None)
    np.testing.assert_array_equal(frame["spend"].to_numpy(), EXPECTED_SPEND)
    assert frame["n_events"].iloc[1:5].tolist() == [1, 2, 3, 4]
