"""Train the shipped Korean review polarity model: ``python -m bench.train_polarity``.

Training rows (no test split is read):

- KOTE val.tsv, polarity by the label votes of ``bench.polarity.kote_gold`` (mixed rows left
  out), weight 1;
- goemotions-korean train.tsv (machine-translated GoEmotions), polarity by
  ``bench.polarity.goemotions_gold``, weight :data:`GOEMOTIONS_WEIGHT` (silver data from
  Reddit: it teaches neutral statements, which KOTE almost lacks, without outvoting KOTE);
- :data:`SUPPLEMENT`, a few Korean review sentences written for this project (not taken from
  any data set, and apart from ``tests/data/ko_reviews.yaml`` and
  ``bench/data/ko_reviews_validation.yaml``: no 7-character run is shared with either), weight
  :data:`SUPPLEMENT_WEIGHT`: sad or scary words inside praise of a film, book or dish, such
  words inside a complaint, contrast (…지만, …는데) and negation (안 …, …지 않다, 없다),
  and flat factual review sentences.

Features and heads: :func:`bot.insights.polarity.review_features` (character 1-3-grams and
kiwipiepy morphemes), each block sublinear TF-IDF, L2-normalized, under a multinomial logistic
regression (lbfgs, C = :data:`C`); beside it a second one over the packaged multilingual
Universal Sentence Encoder's vectors (C = :data:`SENTENCE_C`), its logits added times
:data:`SENTENCE_SCALE`; and :data:`VERDICT_BONUS` on the positive side of a review that
states praise (:func:`bot.insights.polarity.praised`).

Writes ``bot/insights/models/polarity_ko.npz`` (plain arrays, float16 weights, fixed zip
timestamps: the same data give a byte-identical file) and ``polarity_ko.json`` beside it (what
it was trained on, its SHA-256, the held-out accuracy on goemotions-korean dev.tsv). About ten
minutes on 2 cores, most of it embedding the training rows (``--cache DIR`` keeps the vectors
for the next run).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from bench import polarity, train_emotion
from bench.common import progress
from bot.insights.polarity import (
    FEATURE_VERSION,
    KOREAN_MODEL,
    MODEL_CLASSES,
    Polarity,
    PolarityModel,
    char_features,
    clip_review,
    morpheme_features,
    morphemes,
    normalize_review,
    sentence_embedder,
)

C = 4.0
SENTENCE_C = 2.0
"""C of the sentence-embedding head (0.5 and 2 gave the same CV, 2 a better dev)."""
SENTENCE_SCALE = 0.25
"""Weight of the sentence head's logits beside the n-gram head's (chosen on CV and dev)."""
VERDICT_BONUS = 2.0
"""Added to the positive logit of a review that states praise (``praised``): 1 to 3 gave the
same CV, dev and validation figures; 2 is the middle of that range."""
GOEMOTIONS_WEIGHT = 0.1
SUPPLEMENT_WEIGHT = 2.0
MIN_DF = 3
"""A feature must occur in this many training rows (keeps the file small, drops one-offs)."""

SUPPLEMENT: tuple[tuple[Polarity, str], ...] = (
    # Sad or scary, and praised.
    ("positive", "보는 내내 눈물 났어요. 정말 좋은 영화예요"),
    ("positive", "슬픈 장면이 많은데 그래서 더 감동적이었어요 추천해요"),
    ("positive", "주인공이 떠나는 장면에서 오열했어요 인생 영화입니다"),
    ("positive", "너무 슬프고 아름다운 이야기, 별 다섯 개도 모자라요"),
    ("positive", "울다 웃다 했네요. 가족 영화로 최고예요"),
    ("positive", "손수건 필수예요 ㅠㅠ 연출이 훌륭합니다"),
    ("positive", "마음이 아픈데 자꾸 생각나는 작품이에요. 강력 추천"),
    ("positive", "무서워서 눈 가리고 봤는데 진짜 재밌어요"),
    ("positive", "소름이 쫙 돋았어요. 이런 공포영화 오랜만이에요 대만족"),
    ("positive", "공포 장르 좋아하시면 무조건 보셔야 해요. 너무 무서웠어요 ㅋㅋ"),
    ("positive", "긴장감 때문에 손에 땀이 났어요. 올해 최고의 스릴러"),
    ("positive", "무서운데 계속 보게 되는 마성의 드라마예요 강추합니다"),
    ("positive", "잔혹한 장면도 있지만 완성도가 정말 높아요"),
    ("positive", "읽으면서 많이 울었어요. 선물하고 싶은 책이에요"),
    ("positive", "비극적인 결말인데 여운이 엄청나요. 작가님 최고"),
    ("positive", "밤에 읽다가 오싹했어요 ㅋㅋ 추리소설 좋아하면 강추"),
    ("positive", "슬퍼서 울면서 먹은 게 아니라 너무 맛있어서 감동했어요"),
    ("positive", "맵기가 살벌한데 그 맛에 또 시켜요. 최고"),
    ("positive", "아이가 무섭다면서도 또 보자고 하네요 재밌나 봐요"),
    ("positive", "공연 마지막 곡에서 울컥했어요. 다음 공연도 꼭 갈게요"),
    # Sad or scary, and the verdict is a complaint.
    ("negative", "하나도 안 슬퍼요. 억지 감동에 시간 낭비했어요"),
    ("negative", "무섭지도 않고 재미도 없어요 비추"),
    ("negative", "공포영화인데 깜짝 놀래키기만 하고 내용이 없어요"),
    ("negative", "슬픈 음악만 깔면 감동인 줄 아나 봐요. 별로예요"),
    ("negative", "너무 잔인하기만 하고 스토리가 엉망이에요"),
    ("negative", "아이가 무서워서 울었어요. 설명에 그런 말은 없었는데 실망입니다"),
    # Flat complaints.
    ("negative", "박스가 젖어서 왔어요"),
    ("negative", "주문한 색상이 아니라 다른 색이 왔네요"),
    ("negative", "두 번 입었는데 실밥이 다 풀렸어요"),
    ("negative", "문의 남긴 지 사흘째인데 답변이 없어요"),
    ("negative", "배달이 예정 시간보다 한참 늦게 왔어요"),
    ("negative", "이 가격이면 다른 데서 사는 게 낫겠어요"),
    # Plain praise.
    ("positive", "생각보다 훨씬 좋아요 재구매할게요"),
    ("positive", "배송 빠르고 포장도 깔끔해요"),
    ("positive", "맛있게 잘 먹었습니다 번창하세요"),
    ("positive", "친절하게 안내해 주셔서 감사했어요"),
    # Neutral: facts, plans, questions.
    ("neutral", "어제 주문했고 내일 도착 예정이에요"),
    ("neutral", "이 제품은 두 번째 구매입니다"),
    ("neutral", "설명서는 한국어와 영어로 되어 있어요"),
    ("neutral", "아직 안 써 봐서 나중에 후기 남길게요"),
    ("neutral", "무게는 1킬로그램 정도예요"),
    ("neutral", "편의점 택배로 받았습니다"),
    ("neutral", "주말에 가족이랑 보려고 예매했어요"),
    ("neutral", "원작 만화가 있는 작품이에요"),
    ("neutral", "보통 맛으로 두 개 주문했어요"),
    ("neutral", "색상은 네이비, 사이즈는 미디움입니다"),
    ("neutral", "배터리 용량이 어떻게 되나요?"),
    ("neutral", "다음 주에 한 번 더 주문할 예정이에요"),
    # More of the review domain: products, delivery, food, stays, apps.
    ("negative", "케이스 모서리가 깨진 채로 배송됐어요"),
    ("negative", "충전이 안 돼서 서비스센터에 보냈어요"),
    ("negative", "리뷰 보고 샀는데 완전 속았네요"),
    ("negative", "소매가 너무 길어서 못 입겠어요"),
    ("negative", "하루 써 보고 바로 버렸어요"),
    ("negative", "뚜껑이 제대로 안 닫혀서 국물이 다 샜어요"),
    ("negative", "주문 취소했는데 결제가 그대로 되어 있어요"),
    ("negative", "물건이 안 와서 문의했더니 기다리라는 말뿐이에요"),
    ("negative", "사은품 준다더니 안 들어 있었어요"),
    ("negative", "밥이 설익어서 딱딱했어요"),
    ("negative", "양념이 너무 달아서 먹다 남겼어요"),
    ("negative", "예약한 방이 아니라 더 작은 방을 주셨어요"),
    ("negative", "로그인이 계속 풀려서 쓸 수가 없어요"),
    ("negative", "광고만 많고 정작 필요한 기능은 없네요"),
    ("negative", "상담원이 말을 끊고 전화를 끊어 버렸어요"),
    ("negative", "재질이 얇아서 속이 다 비쳐요"),
    ("negative", "두 달 만에 화면이 나갔어요. 돈 버렸네요"),
    ("negative", "별로예요 추천하지 않습니다"),
    ("positive", "생각했던 것보다 크기가 넉넉해서 좋아요"),
    ("positive", "튼튼하게 잘 만들었네요 오래 쓸 것 같아요"),
    ("positive", "포장 뜯자마자 향이 좋아서 기분이 좋아졌어요"),
    ("positive", "기사님 친절하시고 시간도 정확하게 맞춰 오셨어요"),
    ("positive", "소스가 진짜 맛있어요 밥 두 공기 먹었습니다"),
    ("positive", "가성비 좋고 양도 충분해요"),
    ("positive", "아이가 매일 가지고 놀아요 사길 잘했어요"),
    ("positive", "숙소가 조용하고 침구가 깨끗했어요"),
    ("positive", "설정이 간단해서 금방 연결했어요 편해요"),
    ("positive", "교환 과정이 빠르고 깔끔했어요 감사합니다"),
    ("positive", "오래 기다린 보람이 있네요 품질 좋아요"),
    ("positive", "처음엔 반신반의했는데 써 보니 대만족입니다"),
    ("neutral", "키 165에 55킬로그램이고 엠 사이즈 샀어요"),
    ("neutral", "리필용으로 두 통 주문했습니다"),
    ("neutral", "배송은 롯데택배로 왔어요"),
    ("neutral", "화이트는 품절이라 그레이로 샀어요"),
    ("neutral", "저녁 여섯 시쯤 도착했어요"),
    ("neutral", "매장 주차는 두 시간까지 무료래요"),
    ("neutral", "평일 오전에 방문했어요"),
    ("neutral", "앱 버전은 최신으로 업데이트했어요"),
    ("neutral", "이번이 세 번째 주문이에요"),
    ("neutral", "아직 배송 중이라 받으면 다시 쓸게요"),
    # Added with the second model (sentence head): contrast, negation, more genre and facts.
    # Contrast: the clause after …지만 / …는데 carries the verdict.
    ("positive", "포장은 허술했지만 제품 자체는 아주 만족스러워요"),
    ("positive", "배송이 하루 늦었는데 물건이 좋아서 다 용서돼요"),
    ("positive", "비싸다고 생각했는데 써 보니 돈이 아깝지 않아요"),
    ("positive", "처음 입었을 땐 뻣뻣했는데 빨고 나니 부드러워졌어요 좋아요"),
    ("positive", "줄이 길긴 했지만 음식 맛은 기대 이상이었어요"),
    ("positive", "화면이 좀 작지만 가볍고 배터리가 오래가서 만족해요"),
    ("positive", "결말이 열려 있어서 호불호는 있겠지만 저는 너무 좋았어요"),
    ("positive", "러닝타임이 길지만 지루할 틈이 없었어요"),
    ("negative", "사진은 예쁜데 실물은 싸구려 같아요"),
    ("negative", "맛은 괜찮았지만 직원이 너무 불친절해서 다시는 안 가요"),
    ("negative", "배송은 빨랐는데 열어 보니 유통기한이 지나 있었어요"),
    ("negative", "가격은 싼데 그만큼 금방 고장 나요"),
    ("negative", "기대를 많이 했는데 내용이 너무 평범해서 아쉬웠어요"),
    ("negative", "첫인상은 좋았지만 일주일 쓰고 나니 단점만 보여요"),
    ("negative", "디자인은 마음에 드는데 지퍼가 자꾸 걸려요"),
    ("negative", "친절하긴 했는데 결국 문제는 해결이 안 됐어요"),
    # Negation: 안 X, X지 않다, 없다, 아니다.
    ("positive", "기름지지 않고 담백해서 좋았어요"),
    ("positive", "하루 종일 신어도 발이 아프지 않아요"),
    ("positive", "소음이 하나도 없어서 밤에 틀어 놔도 돼요"),
    ("positive", "불만 하나 없이 잘 쓰고 있어요"),
    ("positive", "흠잡을 데가 없는 제품이에요"),
    ("positive", "걱정했던 것과 달리 전혀 비리지 않았어요"),
    ("positive", "이 가격에 이 정도면 나쁘지 않은 게 아니라 훌륭한 거죠"),
    ("negative", "설명과 달리 방수가 전혀 안 돼요"),
    ("negative", "재미도 없고 감동도 없는 영화"),
    ("negative", "아무리 기다려도 연락이 없네요"),
    ("negative", "생각했던 색이 아니라서 반품했어요"),
    ("negative", "편하지도 않고 예쁘지도 않아요"),
    ("negative", "추천할 만한 제품은 아니네요"),
    ("negative", "두 번은 안 갈 것 같아요"),
    # Sad, scary or painful words about the thing reviewed, and the verdict.
    ("positive", "주인공 사연이 딱해서 마음이 쓰렸지만 연출이 정말 훌륭했어요"),
    ("positive", "공포 게임인데 너무 무서워서 중간중간 쉬면서 했어요 갓겜입니다"),
    ("positive", "떠나보낸 고양이 생각에 책장을 넘기며 엉엉 울었어요 좋은 책 감사합니다"),
    ("positive", "섬뜩한 반전에 소름이 쫙 돋았어요 역대급 스릴러"),
    ("positive", "맵다 맵다 하면서 땀 흘리며 다 먹었어요 중독되는 맛"),
    ("positive", "악역이 너무 무서워서 미웠는데 그만큼 연기를 잘한다는 뜻이죠"),
    ("positive", "절망적인 상황을 그린 영화인데 마지막엔 희망을 줘서 좋았어요"),
    ("positive", "오싹오싹한 분위기 덕분에 여름에 딱이에요 재밌게 봤어요"),
    ("negative", "슬픈 척만 하고 이야기는 텅 비었어요"),
    ("negative", "무섭다고 해서 갔는데 분장이 허술해서 웃음만 나왔어요"),
    ("negative", "피 튀기는 장면만 많고 남는 게 없네요"),
    ("negative", "너무 무서워서 아이가 울고 나왔어요 전체 관람가라더니 실망이에요"),
    # Flat, factual review sentences.
    ("neutral", "두 개 묶음으로 주문했어요"),
    ("neutral", "택배는 오후 네 시쯤 받았습니다"),
    ("neutral", "아기 선물용으로 샀어요"),
    ("neutral", "어머니 생신 때 쓰려고 미리 주문해 뒀어요"),
    ("neutral", "용량은 500밀리리터예요"),
    ("neutral", "기본 구성에 충전 케이블이 들어 있어요"),
    ("neutral", "주말 저녁에 친구랑 둘이 갔어요"),
    ("neutral", "4인 가족이 먹으려고 대 사이즈 시켰어요"),
    ("neutral", "예매는 앱으로 했고 현장에서 표를 받았어요"),
    ("neutral", "시리즈 세 번째 책이에요"),
    ("neutral", "원작은 안 읽고 영화만 봤어요"),
    ("neutral", "매장 픽업으로 받았습니다"),
    ("neutral", "교환하려면 어떻게 해야 하나요?"),
    ("neutral", "다른 색상도 나오는지 궁금합니다"),
    ("neutral", "회사 근처라 점심에 들렀어요"),
    ("neutral", "한 달쯤 사용한 뒤에 추가로 적을게요"),
    ("neutral", "여름용으로 얇은 걸 찾다가 샀어요"),
    ("neutral", "남편 거랑 제 거 하나씩 샀어요"),
    ("neutral", "오전에 주문하면 당일 발송이라고 되어 있네요"),
    ("neutral", "체크아웃은 열한 시였어요"),
    ("neutral", "포인트로 결제했어요"),
    ("neutral", "2시간짜리 공연이고 중간 휴식은 없어요"),
    ("neutral", "모델 번호는 상자 옆면에 적혀 있어요"),
    ("neutral", "작년에 산 것과 같은 제품이에요"),
    # Plain praise and complaints of the review domain.
    ("positive", "색이 화사하고 원단도 탄탄해요"),
    ("positive", "주문하고 이틀 만에 받았어요 빠르고 좋네요"),
    ("positive", "사장님이 서비스로 음료도 주셨어요 친절해요"),
    ("positive", "방이 넓고 침대가 편해서 잘 쉬다 갑니다"),
    ("positive", "아이가 너무 좋아해서 하나 더 주문했어요"),
    ("negative", "받은 날부터 버튼을 눌러도 반응이 없어요"),
    ("negative", "냄새가 심해서 베란다에 며칠째 두고 있어요"),
    ("negative", "주문한 지 일주일이 지났는데 아직 출고 전이래요"),
    ("negative", "국물이 미지근하고 면이 퍼져 있었어요"),
    ("negative", "리뷰 이벤트 사은품이 아직도 안 왔어요"),
)
"""Hand-written training sentences for what the data sets rarely show (see the docstring)."""


@dataclass(frozen=True)
class Rows:
    """Training texts, their polarity and their sample weight."""

    texts: list[str]
    labels: list[Polarity]
    weights: list[float]

    def __add__(self, other: Rows) -> Rows:
        return Rows(
            self.texts + other.texts, self.labels + other.labels, self.weights + other.weights
        )


def gold_rows(gold: polarity.Gold, weight: float) -> Rows:
    """A benchmark gold set as training rows of one weight."""
    return Rows(list(gold.texts), list(gold.labels), [weight] * len(gold.labels))


def training_rows(root: Path) -> tuple[Rows, dict[str, int]]:
    """Every training row, and how many came from each source."""
    kote = polarity.Gold.of(train_emotion.kote(root, "val"), polarity.kote_gold)
    rule = polarity.goemotions_gold(root)
    goemotions = polarity.Gold.of(polarity.goemotions_korean(root, "train"), rule)
    supplement = Rows(
        [text for _, text in SUPPLEMENT],
        [label for label, _ in SUPPLEMENT],
        [SUPPLEMENT_WEIGHT] * len(SUPPLEMENT),
    )
    rows = gold_rows(kote, 1.0) + gold_rows(goemotions, GOEMOTIONS_WEIGHT) + supplement
    counts = {
        "kote val.tsv": len(kote.labels),
        "goemotions-korean train.tsv": len(goemotions.labels),
        "supplement": len(SUPPLEMENT),
    }
    return rows, counts


def feature_lists(texts: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Both feature blocks of every text (morphemes analysed in one batch)."""
    normalized = [normalize_review(t) for t in texts]
    analysed = morphemes(normalized)
    return [char_features(t) for t in normalized], [morpheme_features(m) for m in analysed]


@dataclass(frozen=True)
class Trained:
    """Vocabularies (sorted), idf, the n-gram head, and the sentence head."""

    chars: list[str]
    morphs: list[str]
    idf: NDArray[np.float64]
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    sentence_weights: NDArray[np.float64]
    sentence_bias: NDArray[np.float64]


def embeddings(texts: Sequence[str], cache: Path | None) -> NDArray[np.float32]:
    """USE vectors of ``clip_review(text)`` for every text (kept in ``cache`` by content hash:
    embedding the 47,000 training rows takes several minutes on 2 cores)."""
    clipped = [clip_review(t) for t in texts]
    key = hashlib.sha256("\n".join(clipped).encode("utf-8")).hexdigest()[:16]
    path = cache / f"use-{key}.npy" if cache is not None else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    embedder = sentence_embedder()
    vectors = np.vstack(
        [embedder.embed(clipped[i : i + 256]) for i in range(0, len(clipped), 256)]
    ).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors


def train(rows: Rows, cache: Path | None = None) -> Trained:
    """Fit both TF-IDF blocks, the n-gram head and the sentence head on ``rows``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    chars, morphs = feature_lists(rows.texts)
    blocks = []
    vocabularies: list[list[str]] = []
    idfs = []
    for lists in (chars, morphs):
        vec = TfidfVectorizer(
            analyzer=lambda x: x, sublinear_tf=True, min_df=MIN_DF, lowercase=False
        )
        blocks.append(vec.fit_transform(lists))
        vocabularies.append([str(k) for k in vec.get_feature_names_out()])
        idfs.append(vec.idf_)
    x = sparse.hstack(blocks).tocsr()
    head = LogisticRegression(C=C, max_iter=3000)
    head.fit(x, rows.labels, sample_weight=np.asarray(rows.weights))
    sentence = LogisticRegression(C=SENTENCE_C, max_iter=3000)
    sentence.fit(embeddings(rows.texts, cache), rows.labels, sample_weight=np.asarray(rows.weights))
    for fitted in (head, sentence):
        if tuple(fitted.classes_) != MODEL_CLASSES:
            raise RuntimeError(f"unexpected classes {fitted.classes_}")
    return Trained(
        vocabularies[0],
        vocabularies[1],
        np.concatenate(idfs),
        head.coef_.T.copy(),
        head.intercept_.copy(),
        sentence.coef_.T.copy(),
        sentence.intercept_.copy(),
    )


def _blob(keys: Sequence[str]) -> NDArray[np.uint8]:
    if any("\n" in k for k in keys):
        raise ValueError("a vocabulary key contains a newline")
    return np.frombuffer("\n".join(keys).encode("utf-8"), dtype=np.uint8)


def save(path: Path, model: Trained) -> str:
    """Write the arrays as a deflated ``.npz`` with fixed timestamps; return its SHA-256."""
    arrays = {
        "version": np.asarray([FEATURE_VERSION], dtype=np.int32),
        "chars": _blob(model.chars),
        "morphs": _blob(model.morphs),
        "idf": model.idf.astype(np.float32),
        "weights": model.weights.astype(np.float16),
        "bias": model.bias.astype(np.float32),
        "sentence_weights": model.sentence_weights.astype(np.float32),
        "sentence_bias": model.sentence_bias.astype(np.float32),
        "sentence_scale": np.asarray([SENTENCE_SCALE], dtype=np.float32),
        "verdict_bonus": np.asarray([VERDICT_BONUS], dtype=np.float32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def held_out(model: PolarityModel, gold: polarity.Gold) -> dict[str, float | int]:
    """Accuracy and macro-F1 of ``model`` on a held-out gold set."""
    probabilities = np.vstack(
        [model.probabilities_many(gold.texts[i : i + 256]) for i in range(0, len(gold.texts), 256)]
    )
    predicted = [MODEL_CLASSES[int(i)] for i in probabilities.argmax(axis=1)]
    return {
        "rows": len(gold.labels),
        "accuracy": round(polarity.accuracy(predicted, gold.labels), 4),
        "macro_f1": round(polarity.macro_f1(predicted, gold.labels), 4),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.train_polarity", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="datasets folder")
    parser.add_argument("--out", type=Path, default=KOREAN_MODEL, help="weights file to write")
    parser.add_argument(
        "--cache", type=Path, default=None, help="folder to keep sentence embeddings in"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, write the weights and the manifest, print the held-out figures."""
    args = parse_args(argv)
    from bench.run import default_data

    root = args.data or default_data()
    rows, counts = training_rows(root)
    progress(f"train_polarity: {len(rows.labels)} rows {counts}, {Counter(rows.labels)}")
    trained = train(rows, args.cache)
    digest = save(args.out, trained)
    model = PolarityModel.load(args.out)
    dev = polarity.Gold.of(polarity.goemotions_korean(root, "dev"), polarity.goemotions_gold(root))
    manifest = {
        "file": args.out.name,
        "sha256": digest,
        "feature_version": FEATURE_VERSION,
        "classes": list(MODEL_CLASSES),
        "features": {"chars": len(trained.chars), "morphemes": len(trained.morphs)},
        "training_rows": counts,
        "weights": {
            "kote": 1.0,
            "goemotions_korean": GOEMOTIONS_WEIGHT,
            "supplement": SUPPLEMENT_WEIGHT,
        },
        "C": C,
        "sentence_head": {
            "embedder": "use-multilingual-v3",
            "C": SENTENCE_C,
            "scale": SENTENCE_SCALE,
        },
        "verdict_bonus": VERDICT_BONUS,
        "min_df": MIN_DF,
        "held_out_goemotions_korean_dev": held_out(model, dev),
        "licenses": {"KOTE": "MIT", "goemotions-korean": "Apache-2.0"},
    }
    manifest_path = args.out.with_suffix(".json")
    manifest_path.write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    progress(f"wrote {args.out} ({args.out.stat().st_size} bytes) and {manifest_path.name}")
    print(json.dumps(manifest["held_out_goemotions_korean_dev"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
