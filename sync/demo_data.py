"""Realistic, deterministic customer data: Chinese and English names, companies, phones.

Used by the benchmarks, the tests and the demo seed, so that all of them look like a real
sales team's data (repeated surnames, long company names with legal suffixes, mobile
numbers written in several styles) rather than ``name-1``, ``name-2``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync.schema import CustomerLevel, CustomerStatus, DealStage, uuid7
from sync.search import has_han as search_has_han

if TYPE_CHECKING:
    from sync.replica import Replica

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤单欧阳"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红鹏飞建国志海燕欣怡子涵浩然梓萱"
    "宇轩思远晨曦佳琪俊杰婷雪梅春晓文博天佑雨泽若曦嘉怡一诺安琪"
)
EN_FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Jessica",
    "Joseph",
    "Sarah",
    "Thomas",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Emily",
    "Mark",
    "Olivia",
    "Steven",
    "Sophia",
    "Paul",
    "Grace",
    "Andrew",
    "Chloe",
    "Kevin",
    "Hannah",
    "Brian",
    "Laura",
]
EN_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Carter",
    "Mitchell",
    "Roberts",
    "Turner",
    "Phillips",
]
CITIES = (
    ("上海", "021"),
    ("北京", "010"),
    ("深圳", "0755"),
    ("广州", "020"),
    ("杭州", "0571"),
    ("成都", "028"),
    ("重庆", "023"),
    ("武汉", "027"),
    ("南京", "025"),
    ("西安", "029"),
    ("苏州", "0512"),
    ("天津", "022"),
    ("长沙", "0731"),
    ("郑州", "0371"),
    ("青岛", "0532"),
    ("厦门", "0592"),
)
BRANDS = [
    "华为",
    "长安",
    "华通",
    "盛世",
    "鼎新",
    "恒泰",
    "瑞丰",
    "金桥",
    "宏达",
    "中天",
    "银河",
    "东方",
    "新锐",
    "博远",
    "嘉禾",
    "天成",
    "星辰",
    "海纳",
    "聚源",
    "汇丰",
    "永信",
    "卓越",
    "安捷",
    "云帆",
    "同创",
    "明德",
    "正泰",
    "富源",
    "祥和",
    "亿达",
    "光明",
    "德信",
    "绿洲",
    "凯旋",
]
INDUSTRY_WORDS = (
    ("科技", "IT"),
    ("软件", "IT"),
    ("信息技术", "IT"),
    ("电子", "制造"),
    ("机械", "制造"),
    ("汽车配件", "制造"),
    ("贸易", "贸易"),
    ("进出口", "贸易"),
    ("医药", "医疗"),
    ("医疗器械", "医疗"),
    ("建设工程", "建筑"),
    ("物流", "物流"),
    ("餐饮管理", "餐饮"),
    ("文化传媒", "传媒"),
    ("新能源", "能源"),
    ("投资", "金融"),
)
SUFFIXES = ("有限公司", "有限公司", "有限公司", "股份有限公司", "集团有限公司", "有限责任公司")
EN_COMPANY_WORDS = [
    "Acme",
    "Global",
    "Pacific",
    "Summit",
    "Pioneer",
    "Golden",
    "Bridge",
    "Harbor",
    "Silverline",
    "Northstar",
    "Evergreen",
    "Bluewave",
    "Crescent",
    "Keystone",
    "Horizon",
    "Orient",
]
EN_COMPANY_KINDS = ("Trading", "Technology", "Logistics", "Industrial", "Medical", "Consulting")
EN_SUFFIXES = ("Co., Ltd.", "Ltd.", "Inc.", "LLC", "Limited")
SOURCES = ("展会", "转介绍", "官网", "电话拜访", "广告", "老客户", "Referral", "Website")
TAGS = ("VIP", "重点", "华东", "华南", "华北", "老客户", "新客户", "渠道", "大客户", "待跟进")
PINYIN_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "outlook.com", "gmail.com")


class CustomerFactory:
    """Makes customers from a seed: the same seed gives the same customers everywhere."""

    def __init__(self, seed: int = 20261124) -> None:
        self.rnd = random.Random(seed)
        self._n = 0

    def chinese_name(self) -> str:
        r = self.rnd
        surname = "欧阳" if r.random() < 0.01 else r.choice(SURNAMES[:-2])
        return surname + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2))))

    def english_name(self) -> str:
        return f"{self.rnd.choice(EN_FIRST)} {self.rnd.choice(EN_LAST)}"

    def mobile(self) -> str:
        r = self.rnd
        digits = "1" + r.choice("3456789") + "".join(r.choice("0123456789") for _ in range(9))
        style = r.random()
        if style < 0.5:
            return digits
        if style < 0.8:
            return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
        return f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"

    def landline(self, area: str) -> str:
        local = "".join(self.rnd.choice("0123456789") for _ in range(8 if len(area) == 3 else 7))
        return f"{area}-{local}"

    def customer_values(self) -> dict[str, Any]:
        """The user-editable fields of one customer."""
        r = self.rnd
        self._n += 1
        city, area = r.choice(CITIES)
        chinese = r.random() < 0.85
        if chinese:
            name = self.chinese_name()
            word, industry = r.choice(INDUSTRY_WORDS)
            company = city + r.choice(BRANDS) + word + r.choice(SUFFIXES)
            email = f"u{self._n}{r.randrange(100)}@{r.choice(PINYIN_EMAIL_DOMAINS)}"
        else:
            name = self.english_name()
            industry = r.choice(("IT", "Trading", "Logistics", "Medical"))
            company = (
                f"{r.choice(EN_COMPANY_WORDS)} {r.choice(EN_COMPANY_KINDS)} {r.choice(EN_SUFFIXES)}"
            )
            email = f"{name.split()[0].lower()}.{self._n}@example.com"
        return {
            "name": name,
            "company": company,
            "phone": self.landline(area) if r.random() < 0.6 else None,
            "mobile": self.mobile(),
            "email": email if r.random() < 0.8 else None,
            "address": f"{city}市{r.choice(('浦东新区', '朝阳区', '南山区', '天河区', '西湖区'))}"
            f"{r.randrange(1, 999)}号",
            "city": city,
            "industry": industry,
            "level": r.choice([lv.value for lv in CustomerLevel]),
            "status": r.choice([st.value for st in CustomerStatus]),
            "source": r.choice(SOURCES),
            "tags": r.sample(TAGS, r.choice((0, 1, 1, 2, 3))),
            "notes": r.choice(
                ("", "关注价格，需要报价单。", "决策人是采购总监。", "Prefers email.")
            ),
            "next_follow_up_at": None,
        }

    def contact_values(
        self, customer_id: str, customer: dict[str, Any], *, primary: bool
    ) -> dict[str, Any]:
        """A contact at ``customer`` (Chinese names at Chinese customers)."""
        rnd = self.rnd
        name = self.chinese_name() if search_has_han(customer["name"]) else self.english_name()
        return {
            "customer_id": customer_id,
            "name": name,
            "title": rnd.choice(("采购经理", "总经理", "技术总监", "Purchasing Manager")),
            "mobile": self.mobile(),
            "is_primary": primary,
        }

    def follow_up_values(self, customer_id: str, now: datetime) -> dict[str, Any]:
        """A call, visit or message in the last two months, with a next action."""
        rnd = self.rnd
        return {
            "customer_id": customer_id,
            "kind": rnd.choice(("call", "visit", "wechat", "email", "meeting")),
            "content": rnd.choice(FOLLOW_UP_NOTES),
            "happened_at": now - timedelta(days=rnd.randrange(0, 60)),
            "next_action": rnd.choice(("发报价单", "安排演示", "Send contract", None)),
            "next_action_at": now + timedelta(days=rnd.randrange(-2, 10)),
            "done": rnd.random() < 0.3,
        }

    def deal_values(self, customer_id: str, now: datetime) -> dict[str, Any]:
        rnd = self.rnd
        return {
            "customer_id": customer_id,
            "title": rnd.choice(DEAL_TITLES),
            "amount": f"{rnd.randrange(5, 500) * 1000}.00",
            "stage": rnd.choice([s.value for s in DealStage]),
            "probability": rnd.choice((10, 30, 50, 70, 90)),
            "expected_close": (now + timedelta(days=rnd.randrange(5, 120))).date(),
        }

    def server_customers(
        self, count: int, *, owner_id: str | None = "u-demo", start: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """``count`` customers as the server would send them (system fields included)."""
        t0 = start or datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(count):
            values = self.customer_values()
            when = t0 + timedelta(minutes=i)
            yield {
                **values,
                "id": str(uuid7()),
                "version": 1,
                "created_at": when,
                "updated_at": when,
                "updated_by": owner_id,
                "deleted": False,
                "owner_id": owner_id,
            }


def seed_replica(replica: Replica, customers: int = 120, *, seed: int = 7) -> int:
    """Fill an empty replica with demo customers, contacts, follow-ups and deals.

    They are written through the repository like a salesperson's own edits (so they queue
    for the server too). Returns how many records were created; 0 if the replica already
    had customers.
    """
    if replica.customers.count() > 0:
        return 0
    factory = CustomerFactory(seed)
    rnd = factory.rnd
    now = datetime.now(UTC).replace(microsecond=0)
    created = 0
    for _ in range(customers):
        values = factory.customer_values()
        if rnd.random() < 0.4:
            values["next_follow_up_at"] = now + timedelta(days=rnd.randrange(-3, 14), hours=2)
        cid = replica.customers.create(values).record_id
        created += 1
        for _ in range(rnd.choice((1, 1, 2))):
            replica.contacts.create(factory.contact_values(cid, values, primary=created % 2 == 0))
            created += 1
        for _ in range(rnd.choice((0, 1, 2, 3))):
            replica.follow_ups.create(factory.follow_up_values(cid, now))
            created += 1
        if rnd.random() < 0.5:
            replica.deals.create(factory.deal_values(cid, now))
            created += 1
    return created


FOLLOW_UP_NOTES = (
    "电话沟通需求，客户关注交付周期。",
    "上门拜访，演示了新版本，反馈积极。",
    "微信发送了产品资料和报价。",
    "Discussed pricing; they want a volume discount.",
    "客户预算下季度才批，保持联系。",
)
DEAL_TITLES = ("年度采购框架协议", "服务器扩容", "软件许可续费", "Pilot project", "售后服务合同")
