"""Model requests that race for the spend cap, in this process or in a second one.

python -m tests.support.spend CONNINFO WORKSPACE N      prints how many requests went out
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from agents import Budget, BudgetExceeded, Prices
from agents.models import MeteredModel
from memory import AgentStore, Clock, Database
from memory._postgres import DatabaseTarget

CAP = Decimal("0.01")
PRICES = Prices(Decimal(100), Decimal(500))  # per 1M tokens: a 100-in/20-out reply costs $0.02


async def _slow_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    await asyncio.sleep(0.3)  # long enough for every racer to be in flight at once
    return ModelResponse(parts=[TextPart("ok")], usage=RequestUsage(input_tokens=100, output_tokens=20))


def metered(store: AgentStore, workspace: str) -> MeteredModel:
    return MeteredModel(
        FunctionModel(_slow_answer, model_name="slow"),
        store=store,
        workspace=workspace,
        agent="racer",
        tier="fast",
        budget=Budget(CAP, Decimal(100)),
        prices=PRICES,
    )


async def race(model: MeteredModel, n: int, tag: str) -> int:
    """``n`` requests at once (each a different prompt, so none is a cache hit); how many went out."""

    async def one(i: int) -> bool:
        try:
            await model.request([ModelRequest.user_text_prompt(f"{tag} {i}")], None, ModelRequestParameters())
        except BudgetExceeded:
            return False
        return True

    return sum(await asyncio.gather(*(one(i) for i in range(n))))


async def main(conninfo: str, workspace: str, n: int) -> None:
    db = Database(DatabaseTarget(conninfo, "the test database", embedded=False))
    db.open()
    try:
        print("ready", flush=True)
        sys.stdin.readline()  # go together with the parent
        print(await race(metered(AgentStore(db, Clock()), workspace), n, "child"), flush=True)
    finally:
        db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
