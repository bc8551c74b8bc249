"""CoNLL reader, Brown corpus loader and the tagger's word-shape/char encoding (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.brown import load_brown, simplify_brown_tag
from rnnkit.data.conll import check_bio, load_conll, read_conll
from rnnkit.models.taggers import CASE_CLASSES, case_class, encode_tokens
from rnnkit.sklearn.tagger import repair_bio


def test_conll_reads_columns_docstart_and_blank_lines(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
        "Peter NNP B-NP B-PER\n-DOCSTART- -X- O O\nBlackburn NNP I-NP B-PER\n",
        encoding="utf-8",
    )
    sentences = load_conll(path)
    assert [s.tokens for s in sentences] == [["EU", "rejects"], ["Peter"], ["Blackburn"]]
    assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-PER"], ["B-PER"]]
    assert load_conll(path, tag_column=1)[0].tags == ["NNP", "VBZ"]
    # Tabs: a token may hold spaces; '#' is a token unless comments=True.
    tabbed = read_conll(["#\tO", "New York\tB-LOC", "#\tO"])
    assert tabbed[0].tokens == ["#", "New York", "#"]
    assert read_conll(["# id 1", "a\tO"], comments=True)[0].tokens == ["a"]


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([b"EU B-ORG", b"rejects"], r"train\.conll:2: expected at least 2 columns"),
        ([b"EU NNP B-ORG", b"", b"a O"], r"train\.conll:3: 2 columns .* line 1 has 3"),
        ([b"EU B-ORG", b"caf\xe9 O"], r"train\.conll:2: not valid UTF-8"),
        ([b"EU\t", b"a\tO"], r"train\.conll:1: empty tag"),
        ([b"", b"-DOCSTART- O"], r"train\.conll: no sentences"),
    ],
)
def test_conll_errors_name_file_and_line(tmp_path, lines, match):
    path = tmp_path / "train.conll"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ValueError, match=match):
        load_conll(path)


def test_check_and_repair_bio():
    check_bio(["B-PER", "I-PER", "O", "B-LOC"])
    with pytest.raises(ValueError, match=r"sentence 4: tag 1 is 'I-LOC' after 'B-PER'"):
        check_bio(["B-PER", "I-LOC"], where="sentence 4: ")
    with pytest.raises(ValueError, match="not 'O', 'B-type' or 'I-type'"):
        check_bio(["NN"])
    assert repair_bio(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"]) == (
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"],
        2,
    )


def test_brown_loader_and_tag_simplification(tmp_path):
    folder = tmp_path / "brown"
    folder.mkdir()
    (folder / "ca01").write_text(
        "\n\n\tThe/at Fulton/np-tl jury/nn said/vbd ./.\n\n\n"
        "\tHe's/pps+bez n't/* 1/2/cd here/rb ./.\n",
        encoding="utf-8",
    )
    (folder / "cb01").write_text("\tA/at Buch/fw-nn-tl ./.\n", encoding="utf-8")
    (folder / "README").write_text("not a corpus file", encoding="utf-8")
    sentences = load_brown(folder)
    assert [s.tokens for s in sentences][1] == ["He's", "n't", "1/2", "here", "."]
    assert sentences[0].tags == ["at", "np", "nn", "vbd", "."]
    assert sentences[1].tags == ["pps", "*", "cd", "rb", "."]
    assert sentences[2].tags == ["at", "nn", "."]
    assert load_brown(folder, simplify=False)[2].tags == ["at", "fw-nn-tl", "."]
    assert len(load_brown(folder, categories="b")) == 1
    assert simplify_brown_tag("bez*") == "bez" and simplify_brown_tag("nns$-hl") == "nns$"
    (folder / "cc01").write_text("\tgood/jj bad .\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cc01:1: expected 'word/tag' tokens, got 'bad'"):
        load_brown(folder)
    with pytest.raises(FileNotFoundError, match="rnnkit.data.brown fetch"):
        load_brown(tmp_path / "missing")


def test_case_classes_and_encoding():
    shapes = ["Paris", "NASA", "eBay", "@bob", "#tbt", "http://x.co", "42", "4th", "!!", "a", "I"]
    names = [CASE_CLASSES[case_class(t)] for t in shapes]
    assert names == [
        "title", "upper", "mixed", "mention", "hashtag", "url", "numeric", "has_digit",
        "punct", "lower", "title",
    ]  # fmt: skip
    x = encode_tokens(
        [["Paris", "is"], ["x"]], {"paris": 2, "is": 3}, {"P": 2, "a": 3}, char_width=4
    )
    np.testing.assert_array_equal(x["words"], [[2, 3], [1, 0]])
    np.testing.assert_array_equal(x["case"], [[3, 2], [2, 0]])
    assert x["chars"].shape == (2, 2, 4)
    np.testing.assert_array_equal(x["chars"][0, 0], [2, 3, 1, 1])  # r, i unknown; cut at 4
    assert (x["chars"][1, 1] == 0).all()
    assert set(encode_tokens([["a"]], {}, None)) == {"words", "case"}
