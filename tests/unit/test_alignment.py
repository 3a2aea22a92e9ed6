"""Word alignment of two tokenizers that split the same text differently, checked by hand."""

from __future__ import annotations

import pytest
import torch
from transformers import BertTokenizerFast

from alembert.data.paired import PairedCollator, student_view, tokenize_paired
from alembert.features.alignment import aligned_words, word_ids_from_offsets, word_pool, word_pool_pairs
from alembert.losses import attention_kl, attention_mse


SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tokenizer(folder, pieces):
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(SPECIAL + pieces) + "\n")
    return BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)


@pytest.fixture
def two_tokenizers(tmp_path):
    # teacher: "playing" whole, "football" as foot ##ball; student: play ##ing, "football" whole
    teacher = tokenizer(tmp_path / "t", ["playing", "foot", "##ball", "is", "fun", "!"])
    student = tokenizer(tmp_path / "s", ["play", "##ing", "football", "is", "fun", "!"])
    return teacher, student


def test_word_ids_follow_offsets(two_tokenizers):
    teacher, student = two_tokenizers
    text = "Playing football is fun!"
    t = teacher(text, return_offsets_mapping=True)
    s = student(text, return_offsets_mapping=True)
    assert teacher.convert_ids_to_tokens(t["input_ids"]) == ["[CLS]", "playing", "foot", "##ball", "is", "fun", "!",
                                                             "[SEP]"]  # fmt: skip
    assert student.convert_ids_to_tokens(s["input_ids"]) == ["[CLS]", "play", "##ing", "football", "is", "fun", "!",
                                                             "[SEP]"]  # fmt: skip
    # words by whitespace: 0 "Playing", 1 "football", 2 "is", 3 "fun!" ("!" starts inside word 3); then the special
    # slots: 4 [CLS], 5 the [SEP] closing the text
    assert word_ids_from_offsets(t["offset_mapping"], t.sequence_ids(), [text]) == [4, 0, 1, 1, 2, 3, 3, 5]
    assert word_ids_from_offsets(s["offset_mapping"], s.sequence_ids(), [text]) == [4, 0, 0, 1, 2, 3, 3, 5]


def test_word_ids_of_a_pair_number_the_second_text_after_the_first(two_tokenizers):
    teacher, _ = two_tokenizers
    encoded = teacher("fun football", "is playing", return_offsets_mapping=True)
    ids = word_ids_from_offsets(encoded["offset_mapping"], encoded.sequence_ids(), ["fun football", "is playing"])
    # [CLS] fun foot ##ball [SEP] is playing [SEP]: 4 words, then [CLS] 4, the first [SEP] 5, the second 6
    assert ids == [4, 0, 1, 1, 5, 2, 3, 6]


def test_roberta_style_separators_share_the_slot_of_the_text_they_close():
    # <s> a b </s> </s> c </s> with (start, end) offsets; the two separators between the texts pool together
    offsets = [(0, 0), (0, 1), (2, 3), (0, 0), (0, 0), (0, 1), (0, 0)]
    ids = word_ids_from_offsets(offsets, [None, 0, 0, None, None, 1, None], ["a b", "c"])
    assert ids == [3, 0, 1, 4, 4, 2, 5]


def test_word_pool_is_the_mean_of_each_words_pieces():
    hidden = torch.tensor([[[1.0], [2.0], [4.0], [8.0], [16.0]]])
    word_ids = torch.tensor([[-1, 0, 0, 1, -1]])
    words, present = word_pool(hidden, word_ids, 3)
    assert words.squeeze(-1).tolist() == [[3.0, 8.0, 0.0]]  # (2 + 4) / 2, 8, absent
    assert present.tolist() == [[True, True, False]]


def test_word_pool_pairs_is_the_mean_over_both_words_pieces():
    # tokens: [CLS] a b1 b2 [PAD]; words: a = 0, b = 1; the padded key holds the dtype's minimum, as captured
    low = torch.finfo(torch.float32).min
    scores = torch.tensor(
        [
            [9.0, 9.0, 9.0, 9.0, low],
            [9.0, 1.0, 2.0, 4.0, low],
            [9.0, 8.0, 16.0, 32.0, low],
            [9.0, 64.0, 128.0, 256.0, low],
            [9.0, 9.0, 9.0, 9.0, low],
        ]
    ).expand(1, 2, 5, 5)  # two heads, the same map
    pairs, present = word_pool_pairs(scores, torch.tensor([[-1, 0, 1, 1, -1]]), 3)
    expected = [
        [1.0, (2 + 4) / 2, 0.0],  # a→a, a→b: mean of a→b1 and a→b2
        [(8 + 64) / 2, (16 + 32 + 128 + 256) / 4, 0.0],  # b→a, b→b over the four piece pairs
        [0.0, 0.0, 0.0],  # absent word
    ]
    assert pairs.tolist() == [[expected, expected]]
    assert present.tolist() == [[True, True, False]]


def test_attention_scores_compare_word_by_word_across_tokenizations():
    # teacher splits word 1 in two pieces, the student word 0; where the maps agree word by word the loss is 0
    teacher_ids = torch.tensor([[-1, 0, 1, 1, -1]])
    student_ids = torch.tensor([[-1, 0, 0, 1, -1, -1]])
    words = torch.tensor([[3.0, 5.0], [7.0, 11.0]])
    teacher = torch.zeros(1, 1, 5, 5)
    teacher[0, 0, 1:4, 1:4] = words[[0, 1, 1]][:, [0, 1, 1]]
    student = torch.full((1, 1, 6, 6), -50.0)  # special tokens and padding differ: never compared
    student[0, 0, 1:4, 1:4] = words[[0, 0, 1]][:, [0, 0, 1]]
    s, t, mask = aligned_words(student, teacher, student_ids, teacher_ids)
    assert torch.equal(s, t) and mask.tolist() == [[True, True]]
    assert attention_mse(s, t, mask=mask).item() == 0.0
    student[0, 0, 1, 3] += 2.0  # one piece pair of (word 0 → word 1) moves: that word pair's mean moves by 1
    s, t, mask = aligned_words(student, teacher, student_ids, teacher_ids)
    assert attention_mse(s, t, mask=mask).item() == pytest.approx(1.0 / 4)  # one of four word pairs, squared 1


def test_word_pool_pairs_sums_a_key_words_pieces_for_probabilities():
    # tokens: a b1 b2; words a = 0, b = 1; rows are distributions over the three pieces
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.2, 0.4, 0.4], [0.6, 0.3, 0.1]]).expand(1, 1, 3, 3)
    pairs, _ = word_pool_pairs(probs, torch.tensor([[0, 1, 1]]), 2, keys="sum")
    expected = [[0.5, 0.5], [(0.2 + 0.6) / 2, (0.8 + 0.4) / 2]]  # mean over b's query pieces of the summed mass
    torch.testing.assert_close(pairs[0, 0], torch.tensor(expected))
    torch.testing.assert_close(pairs.sum(-1), torch.ones(1, 1, 2))  # still distributions over words


def test_attention_probs_compare_word_distributions_across_tokenizations():
    # the same word-level attention, spread over different pieces on each side, gives equal word maps: KL 0
    teacher_ids = torch.tensor([[2, 0, 1, 1, 3]])  # [CLS] a b1 b2 [SEP]
    student_ids = torch.tensor([[2, 0, 0, 1, 3, -1]])  # [CLS] a1 a2 b [SEP] [PAD]
    word_probs = torch.tensor([0.1, 0.4, 0.3, 0.2])  # every row puts this mass on a, b, [CLS], [SEP]
    teacher = torch.tensor([0.3, 0.1, 0.2, 0.2, 0.2]).expand(1, 1, 5, 5)  # a 0.1, b 0.2 + 0.2
    student = torch.tensor([0.3, 0.05, 0.05, 0.4, 0.2, 0.0]).expand(1, 1, 6, 6)  # a 0.05 + 0.05, b 0.4
    s, t, mask = aligned_words(student, teacher, student_ids, teacher_ids, distributions=True)
    torch.testing.assert_close(t[0, 0], word_probs.expand(4, 4))
    torch.testing.assert_close(s, t)
    assert mask.tolist() == [[True, True, True, True]]
    assert attention_kl(s, t, mask=mask).item() == pytest.approx(0.0, abs=1e-6)
    # a word the student truncated away: both sides renormalise over the three words they share
    s, t, mask = aligned_words(student[..., :4, :4], teacher, student_ids[:, :4], teacher_ids, distributions=True)
    assert mask.tolist() == [[True, True, True, False]]
    torch.testing.assert_close(t[0, 0, 0], torch.tensor([0.1, 0.4, 0.3, 0.0]) / 0.8)
    torch.testing.assert_close(s[0, 0, 0], torch.tensor([0.1, 0.4, 0.3, 0.0]) / 0.8)


def test_aligned_words_compare_the_same_words(two_tokenizers):
    # teacher tokens: [CLS] playing foot ##ball is [SEP]; student: [CLS] play ##ing football is [SEP] [PAD]
    teacher_hidden = torch.tensor([[[0.0], [1.0], [2.0], [4.0], [5.0], [0.0]]])
    student_hidden = torch.tensor([[[0.0], [1.0], [3.0], [3.0], [5.0], [0.0], [9.0]]])
    teacher_ids = torch.tensor([[-1, 0, 1, 1, 2, -1]])
    student_ids = torch.tensor([[-1, 0, 0, 1, 2, -1, -1]])
    s, t, mask = aligned_words(student_hidden, teacher_hidden, student_ids, teacher_ids)
    assert t.squeeze(-1).tolist() == [[1.0, 3.0, 5.0]]  # playing, (foot + ##ball) / 2, is
    assert s.squeeze(-1).tolist() == [[2.0, 3.0, 5.0]]  # (play + ##ing) / 2, football, is
    assert mask.tolist() == [[True, True, True]]


def test_paired_dataset_and_collator(two_tokenizers):
    teacher, student = two_tokenizers
    data = tokenize_paired([("playing football",), ("fun !",)], [1, 0], teacher, student, max_length=16)
    batch = PairedCollator(teacher, student)([data[0], data[1]])
    assert batch["input_ids"].shape == (2, 5) and batch["student_input_ids"].shape == (2, 5)
    # two words each, then [CLS] (slot 2) and [SEP] (slot 3); padding -1
    assert batch["word_ids"].tolist() == [[2, 0, 1, 1, 3], [2, 0, 1, 3, -1]]
    assert batch["student_word_ids"].tolist() == [[2, 0, 0, 1, 3], [2, 0, 1, 3, -1]]
    view = student_view(batch)
    assert torch.equal(view["input_ids"], batch["student_input_ids"]) and torch.equal(view["labels"], batch["labels"])
    assert torch.equal(view["word_ids"], batch["student_word_ids"])  # the student's own word indices
    assert student_view({"input_ids": 1}) == {"input_ids": 1}  # not paired: the batch itself


def test_student_embeddings_start_from_the_teachers_pieces(two_tokenizers):
    from alembert.models.vocab import init_embeddings_from_teacher

    teacher_tok, student_tok = two_tokenizers
    teacher, student = torch.nn.Embedding(11, 2), torch.nn.Embedding(11, 2)
    with torch.no_grad():
        teacher.weight.copy_(torch.arange(22, dtype=torch.float).view(11, 2))
    teacher_model = type("M", (), {"get_input_embeddings": lambda self: teacher})()
    student_model = type("M", (), {"get_input_embeddings": lambda self: student})()
    assert init_embeddings_from_teacher(student_model, teacher_model, student_tok, teacher_tok) == 11
    t, s = teacher_tok.get_vocab(), student_tok.get_vocab()
    # "football" is foot ##ball for the teacher: the mean of rows 6 and 7 = ([12, 13] + [14, 15]) / 2
    assert student.weight[s["football"]].tolist() == [13.0, 14.0]
    assert student.weight[s["is"]].tolist() == teacher.weight[t["is"]].tolist()  # shared token: the teacher's row
    assert student.weight[s["[CLS]"]].tolist() == teacher.weight[t["[CLS]"]].tolist()
    narrow = torch.nn.Embedding(11, 3)
    narrow_model = type("M", (), {"get_input_embeddings": lambda self: narrow})()
    assert init_embeddings_from_teacher(narrow_model, teacher_model, student_tok, teacher_tok) == 0  # widths differ


def test_aligned_words_compile_to_one_graph_with_the_same_masked_mean():
    from alembert.losses import LOSSES

    torch.manual_seed(0)
    student, teacher = torch.randn(2, 6, 4), torch.randn(2, 5, 4)
    student_ids = torch.tensor([[-1, 0, 0, 1, 2, -1], [-1, 0, 1, -1, -1, -1]])
    teacher_ids = torch.tensor([[-1, 0, 1, 2, -1], [-1, 0, 0, 1, -1]])

    def loss(s, t, sid, tid):
        s_words, t_words, mask = aligned_words(s, t, sid, tid)
        return LOSSES["mse"](s_words, t_words, mask=mask)

    explained = torch._dynamo.explain(loss)(student, teacher, student_ids, teacher_ids)
    assert explained.graph_count == 1 and explained.graph_break_count == 0  # no host read of the word count
    compiled = torch.compile(loss, backend="eager", fullgraph=True)(student, teacher, student_ids, teacher_ids)
    torch.testing.assert_close(compiled, loss(student, teacher, student_ids, teacher_ids))
