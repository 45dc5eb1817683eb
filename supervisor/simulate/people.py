"""Fake applicants: plausible names, ID numbers and phone numbers from western Guangxi.

Why realistic rather than "applicant-1": the wall and the logs must mask personal data,
and masking is only tested for real when the data looks real (a Chinese name, an
18-character ID number with a valid check digit, an 11-digit mobile number). Every value
is drawn from the caller's random generator: nothing here describes a real person.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

# Common surnames in Hechi (Zhuang, Yao, Mulao, Maonan and Han families), most common first.
_SURNAMES = tuple("韦黄覃蓝蒙莫陆罗梁李卢潘吴廖谢班兰农谭唐张陈王刘杨何邓银")
_SURNAME_WEIGHTS = tuple(range(len(_SURNAMES), 0, -1))

_GIVEN_FEMALE = "秀丽美玲芳燕红英桂兰春梅凤珍娟霞琴月莲花艳萍丹婷慧雪"
_GIVEN_MALE = "明强军海志伟建国文平金德成永福家宝新荣朝东庆光华勇林峰"

# Mobile prefixes of the three carriers (130-139, 150-159 but 154, 166, 17x, 18x, 199).
_PHONE_PREFIXES = tuple(
    f"1{n}"
    for n in (*range(30, 40), *range(50, 60), 66, 73, 76, 77, 78, *range(80, 90), 99)
    if n != 54
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    """The GB 11643-1999 check character of an ID number's first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number(rng: random.Random, area_code: str, birth: date, female: bool) -> str:
    """An 18-character resident ID number: area, birth date, order (odd = male), check."""
    order = rng.randrange(0, 500) * 2 + (0 if female else 1)
    first17 = f"{area_code}{birth:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)


def phone(rng: random.Random) -> str:
    return rng.choice(_PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def name(rng: random.Random, female: bool) -> str:
    surname = rng.choices(_SURNAMES, weights=_SURNAME_WEIGHTS)[0]
    pool = _GIVEN_FEMALE if female else _GIVEN_MALE
    length = 1 if rng.random() < 0.3 else 2
    return surname + "".join(rng.choice(pool) for _ in range(length))


def applicant(rng: random.Random, area_code: str, today: date) -> dict[str, str]:
    """The contract's `applicant` object for an adult resident of `area_code`."""
    female = rng.random() < 0.5
    age_days = rng.randrange(18 * 365 + 5, 80 * 365)
    birth = today - timedelta(days=age_days)
    return {
        "name": name(rng, female),
        "id_number": id_number(rng, area_code, birth, female),
        "phone": phone(rng),
    }
