"""Reading manifests: multi-document YAML, JSON, List kinds, directories and located errors."""

import io
import json

from admit.core.errors import InputError
from admit.loading.files import Manifest, Skipped, read_manifests


def _read(*paths):
    return list(read_manifests([str(p) for p in paths]))


def test_multi_document_yaml_with_lines_and_empty_documents(tmp_path):
    f = tmp_path / "all.yaml"
    f.write_text(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
    )
    items = _read(f)
    assert [(m.obj["kind"], m.line) for m in items] == [("Pod", 2), ("Service", 7)]


def test_list_kinds_are_expanded(tmp_path):
    f = tmp_path / "list.json"
    f.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
                    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}},
                ],
            }
        )
    )
    assert [m.obj["metadata"]["name"] for m in _read(f)] == ["a", "b"]


def test_directories_are_searched_recursively_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.yml").write_text("apiVersion: v1\nkind: Pod\n")
    (tmp_path / "a.json").write_text('{"apiVersion": "v1", "kind": "Service"}')
    (tmp_path / "notes.txt").write_text("ignored")
    assert [m.obj["kind"] for m in _read(tmp_path)] == ["Service", "Pod"]


def test_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("apiVersion: v1\nkind: Pod\n"))
    [item] = list(read_manifests(["-"]))
    assert isinstance(item, Manifest)
    assert item.source == "<stdin>"


def test_errors_and_non_objects_are_located_and_reading_goes_on(tmp_path):
    (tmp_path / "1-bad.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [\n")
    (tmp_path / "2-scalar.yaml").write_text("apiVersion: v1\nkind: Pod\n---\njust text\n")
    (tmp_path / "3-nokind.yaml").write_text("apiVersion: v1\nmetadata: {}\n")
    (tmp_path / "4-bad.json").write_text('{"kind": ')
    (tmp_path / "5-ok.yaml").write_text("apiVersion: v1\nkind: Pod\n")
    items = _read(tmp_path)
    errors = [str(i) for i in items if isinstance(i, InputError)]
    base = str(tmp_path)
    assert errors[0].startswith(f"{base}/1-bad.yaml:4: invalid YAML: while parsing a flow")
    assert errors[1:] == [f"{base}/4-bad.json:1: invalid JSON: Expecting value"]
    assert [str(i) for i in items if isinstance(i, Skipped)] == [
        f"{base}/2-scalar.yaml:4: not a Kubernetes object (a str, not a mapping)",
        f"{base}/3-nokind.yaml:1: not a Kubernetes object (no kind)",
    ]
    assert [(i.source, i.line, i.document) for i in items if isinstance(i, Manifest)] == [
        (f"{base}/2-scalar.yaml", 1, 1),
        (f"{base}/5-ok.yaml", 1, 1),
    ]


def test_documents_are_counted_and_list_items_keep_their_own_lines(tmp_path):
    f = tmp_path / "all.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\n---\n# a list\napiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n"
    )
    assert [(m.line, m.document) for m in _read(f)] == [(1, 1), (8, 2), (9, 2)]


def test_a_missing_file_is_an_input_error(tmp_path):
    [error] = _read(tmp_path / "nope.yaml")
    assert isinstance(error, InputError)
    assert "no such file" in str(error)
