"""The continuous double auction for wood and stone (the AI Economist's ``ContinuousDoubleAuction``).

Each agent may keep up to ``max_orders`` open orders per resource (bids and asks together). A bid at
price ``p`` moves ``p`` coin into escrow, an ask moves one unit of the resource into escrow, and placing
either costs labor. Every step the book is matched: the highest bid (older first, then lower agent
index) meets the lowest ask of another agent (older first, then lower agent index) while the bid is at
least the ask; the trade price is that of the order placed first (the ask's on a tie). Orders older than
``duration`` steps expire and return their escrow.

The book is a set of order slots per environment, resource and agent, so all of it is a few tensors:
``price`` (-1 = empty slot), ``is_bid`` and ``age`` (steps since placed), each ``(B, R, A, K)`` with
``R = 2`` resources in the order (stone, wood) and ``K = max_orders`` slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_NO_BID = -1
_NO_ASK = 10**9


@dataclass
class Holdings:
    """What the agents own, ``(B, A)`` coin and ``(B, A, R)`` goods, split into free and escrowed."""

    coin: torch.Tensor
    coin_escrow: torch.Tensor
    goods: torch.Tensor
    goods_escrow: torch.Tensor
    labor: torch.Tensor


@dataclass
class OrderBook:
    """Open orders and the price history of every environment; see the module docstring for shapes."""

    price: torch.Tensor
    is_bid: torch.Tensor
    age: torch.Tensor
    price_history: torch.Tensor  # (B, R, A, max_price + 1): decayed count of each seller's sale prices
    max_price: int
    duration: int

    @classmethod
    def empty(
        cls,
        batch: int,
        n_resources: int,
        n_agents: int,
        max_orders: int,
        max_price: int,
        duration: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> OrderBook:
        shape = (batch, n_resources, n_agents, max_orders)
        history = (batch, n_resources, n_agents, max_price + 1)
        return cls(
            price=torch.full(shape, -1, dtype=torch.int32, device=device),
            is_bid=torch.zeros(shape, dtype=torch.bool, device=device),
            age=torch.zeros(shape, dtype=torch.int32, device=device),
            price_history=torch.zeros(history, dtype=dtype, device=device),
            max_price=max_price,
            duration=duration,
        )

    @property
    def max_orders(self) -> int:
        return self.price.shape[-1]

    def open_orders(self) -> torch.Tensor:
        """``(B, R, A)`` number of open orders (bids and asks) per agent and resource."""
        return (self.price >= 0).sum(-1)

    def order_histograms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(bids, asks)``, each ``(B, R, A, max_price + 1)`` float32: open orders per agent at each price."""
        shape = (*self.price.shape[:3], self.max_price + 1)
        index = self.price.clamp(min=0).long()
        open_ = self.price >= 0
        dev = self.price.device
        bids = torch.zeros(shape, dtype=torch.float32, device=dev)
        bids.scatter_add_(-1, index, (open_ & self.is_bid).to(torch.float32))
        asks = torch.zeros(shape, dtype=torch.float32, device=dev)
        asks.scatter_add_(-1, index, (open_ & ~self.is_bid).to(torch.float32))
        return bids, asks

    def market_rate(self) -> torch.Tensor:
        """``(B, R)`` mean recent sale price, weighted by the decayed price history."""
        net = self.price_history.sum(-2)
        prices = torch.arange(self.max_price + 1, dtype=net.dtype, device=net.device)
        return (net * prices).sum(-1) / net.sum(-1).clamp(min=0.001)

    def place(
        self, resource: torch.Tensor, is_bid: torch.Tensor, price: torch.Tensor, holdings: Holdings, order_labor: float
    ) -> torch.Tensor:
        """Place at most one order per agent (the agents' single action per step).

        Args:
            resource: ``(B, A)`` resource index (0 stone, 1 wood) of the order.
            is_bid: ``(B, A)`` True for a bid, False for an ask.
            price: ``(B, A)`` price level, -1 for no order. A bid needs a free slot and the coin; an ask
                needs a free slot and one unit in the inventory. Orders that fail these are dropped
                silently, as in the AI Economist (action masks rule them out).
        Returns:
            the flat indices ``b * R + r`` of the books that received an order (only those can trade now).
        """
        res = resource.clamp(0, self.price.shape[1] - 1)
        slots = torch.gather(self.price, 1, res.view(res.shape[0], 1, -1, 1).expand(-1, 1, -1, self.max_orders))
        empty = slots.squeeze(1) < 0  # (B, A, K)
        goods = torch.gather(holdings.goods, 2, res.unsqueeze(-1)).squeeze(-1)
        affordable = torch.where(is_bid, holdings.coin >= price, goods > 0)
        place = (price >= 0) & empty.any(-1) & affordable
        b, a = place.nonzero(as_tuple=True)
        r, p, bid = res[b, a], price[b, a], is_bid[b, a]
        slot = empty[b, a].to(torch.int8).argmax(-1)  # the first free slot
        self.price[b, r, a, slot] = p.to(self.price.dtype)
        self.is_bid[b, r, a, slot] = bid
        self.age[b, r, a, slot] = 0
        coin = torch.where(bid, p, 0).to(holdings.coin.dtype)
        holdings.coin[b, a] -= coin
        holdings.coin_escrow[b, a] += coin
        holdings.goods[b, a, r] -= (~bid).long()
        holdings.goods_escrow[b, a, r] += (~bid).long()
        holdings.labor[b, a] += order_labor
        return torch.unique(b * self.price.shape[1] + r)

    def match(self, holdings: Holdings, books: torch.Tensor | None = None) -> torch.Tensor:
        """Execute every crossing bid/ask pair, one trade per environment and resource per round.

        A buyer whose best bid is below the cheapest ask of the other agents cannot trade this step (asks
        only disappear), so each round the highest-priority bid among the remaining buyers trades.

        Args:
            books: flat indices ``b * R + r`` of the books to match (default all). A book that was matched
                to the end and has received no order since cannot trade, whatever the ages.
        Returns:
            ``(B, R)`` the number of trades made.
        """
        batch, n_res, n_agents, n_slots = self.price.shape
        prices = self.price.view(-1, n_agents, n_slots)
        dev = self.price.device
        books = torch.arange(batch * n_res, device=dev) if books is None else books
        if books.numel() == 0:
            return torch.zeros(batch, n_res, dtype=torch.long, device=dev)
        # Priority keys, unique per book: bids rank by (price, age, lower agent) descending, asks by (price,
        # younger, agent) ascending; the price is key // 10_000 and an order's age (key // 100) % 100.
        price, age = prices[books], self.age.view(-1, n_agents, n_slots)[books]
        bid = self.is_bid.view(-1, n_agents, n_slots)[books]
        agent = torch.arange(n_agents, dtype=price.dtype, device=dev).view(1, n_agents, 1)
        open_ = price >= 0
        bid_keys = torch.where(open_ & bid, price * 10_000 + age * 100 + (99 - agent), _NO_BID)
        ask_keys = torch.where(open_ & ~bid, price * 10_000 + (99 - age) * 100 + agent, _NO_ASK)
        not_self = ~torch.eye(n_agents, dtype=torch.bool, device=dev)
        rows = torch.arange(books.numel(), device=dev)  # rows of the key tensors still in play
        done = []
        while rows.numel() > 0:
            best_bid, bid_slot = bid_keys[rows].max(-1)  # (n, A) per buyer
            best_ask, ask_slot = ask_keys[rows].min(-1)  # (n, A) per seller
            other_ask, seller_of = torch.where(not_self, best_ask.unsqueeze(-2), _NO_ASK).min(-1)  # (n, buyer)
            can_trade = (best_bid >= 0) & (best_bid // 10_000 >= other_ask // 10_000)  # _NO_ASK never passes
            top_bid, buyer = torch.where(can_trade, best_bid, _NO_BID).max(-1)  # (n,)
            trading = (top_bid >= 0).nonzero().squeeze(-1)
            rows, buyer, top_bid = rows[trading], buyer[trading], top_bid[trading]
            seller = seller_of[trading, buyer]
            top_ask = other_ask[trading, buyer]
            b_slot, a_slot = bid_slot[trading, buyer], ask_slot[trading, seller]
            bid_keys[rows, buyer, b_slot] = _NO_BID
            ask_keys[rows, seller, a_slot] = _NO_ASK
            done.append(torch.stack([rows, buyer, b_slot, seller, a_slot, top_bid, top_ask], -1))
        trades = torch.cat(done).long().unbind(-1)
        rows, buyer, b_slot, seller, a_slot, top_bid, top_ask = trades
        book = books[rows]
        prices[book, buyer, b_slot] = -1
        prices[book, seller, a_slot] = -1
        bid_price, ask_price = top_bid // 10_000, top_ask // 10_000
        bid_age, ask_age = (top_bid // 100) % 100, 99 - (top_ask // 100) % 100
        price = torch.where(bid_age <= ask_age, ask_price, bid_price)  # the earlier order's price
        b, r = book // n_res, book % n_res
        dt = holdings.coin.dtype
        holdings.coin_escrow.index_put_((b, buyer), -bid_price.to(dt), accumulate=True)
        holdings.coin.index_put_((b, buyer), (bid_price - price).to(dt), accumulate=True)
        holdings.coin.index_put_((b, seller), price.to(dt), accumulate=True)
        one = torch.ones_like(price, dtype=holdings.goods.dtype)
        holdings.goods.index_put_((b, buyer, r), one, accumulate=True)
        holdings.goods_escrow.index_put_((b, seller, r), -one, accumulate=True)
        self.price_history.index_put_((b, r, seller, price), torch.ones_like(price, dtype=dt), accumulate=True)
        trades = torch.zeros(batch * n_res, dtype=torch.long, device=book.device)
        return trades.index_add_(0, book, one.long()).view(batch, n_res)

    def expire(self, holdings: Holdings) -> None:
        """Age every open order by one step; orders older than ``duration`` leave and return their escrow."""
        open_ = self.price >= 0
        self.age += open_.to(torch.int32)
        expired = open_ & (self.age > self.duration)
        refund = torch.where(expired & self.is_bid, self.price, 0).sum(dim=(1, 3)).to(holdings.coin.dtype)
        holdings.coin += refund
        holdings.coin_escrow -= refund
        goods_back = (expired & ~self.is_bid).sum(-1).transpose(1, 2)  # (B, A, R)
        holdings.goods += goods_back
        holdings.goods_escrow -= goods_back
        self.price = torch.where(expired, -1, self.price)
