# pragma version 0.4.3
"""
@title depinsim token (ERC-20)
@notice The network token and the settlement stablecoin (USD in micro-dollars, 6 decimals) are two
        deployments of this contract. Minting is for minters (the reward distributor; the simulation's
        harness for money entering from outside), burning for the holder (or a burner role acting on the
        simulated parties' behalf). The custodian role moves balances between simulated parties: it
        stands in for trades the simulation draws off-chain (token sales, pool trades, stake purchases),
        so that every balance can be reconciled with the off-chain ledger to the base unit.
"""

from ethereum.ercs import IERC20

implements: IERC20

MAX_BATCH: constant(uint256) = 512

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event RoleSet:
    account: indexed(address)
    role: String[16]
    enabled: bool

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
max_supply: public(uint256)
burned: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

owner: public(address)
is_minter: public(HashMap[address, bool])
is_burner: public(HashMap[address, bool])
is_custodian: public(HashMap[address, bool])


@deploy
def __init__(name_: String[32], symbol_: String[16], decimals_: uint8, max_supply_: uint256):
    self.name = name_
    self.symbol = symbol_
    self.decimals = decimals_
    self.max_supply = max_supply_
    self.owner = msg.sender


@external
def set_role(account: address, role: String[16], enabled: bool):
    """@notice Grant or revoke minter, burner or custodian; owner only."""
    assert msg.sender == self.owner, "owner only"
    if role == "minter":
        self.is_minter[account] = enabled
    elif role == "burner":
        self.is_burner[account] = enabled
    elif role == "custodian":
        self.is_custodian[account] = enabled
    else:
        raise "unknown role"
    log RoleSet(account=account, role=role, enabled=enabled)


@internal
def _move(sender: address, receiver: address, amount: uint256):
    self.balanceOf[sender] -= amount  # reverts on underflow
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _mint(receiver: address, amount: uint256):
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _burn(holder: address, amount: uint256):
    self.balanceOf[holder] -= amount
    self.totalSupply -= amount
    self.burned += amount
    log Transfer(sender=holder, receiver=empty(address), value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._move(msg.sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self.allowance[sender][msg.sender] -= amount  # reverts past the allowance
    self._move(sender, receiver, amount)
    return True


@external
def mint_many(receivers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]):
    """@notice Mint to many accounts in one call (an epoch's rewards); minters only, within max supply."""
    assert self.is_minter[msg.sender], "minter only"
    assert len(receivers) == len(amounts), "length mismatch"
    total: uint256 = 0
    for i: uint256 in range(len(receivers), bound=MAX_BATCH):
        self._mint(receivers[i], amounts[i])
        total += amounts[i]
    self.totalSupply += total
    assert self.max_supply == 0 or self.totalSupply + self.burned <= self.max_supply, "max supply"


@external
def burn(amount: uint256):
    """@notice Destroy tokens the caller holds."""
    self._burn(msg.sender, amount)


@external
def burn_many(holders: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]):
    """@notice Destroy tokens of simulated parties (bought back for burning, forfeited); burners only."""
    assert self.is_burner[msg.sender], "burner only"
    assert len(holders) == len(amounts), "length mismatch"
    for i: uint256 in range(len(holders), bound=MAX_BATCH):
        self._burn(holders[i], amounts[i])


@view
@external
def balances_of(accounts: DynArray[address, MAX_BATCH]) -> DynArray[uint256, MAX_BATCH]:
    """@notice Many balances in one call (for reconciliation)."""
    out: DynArray[uint256, MAX_BATCH] = []
    for a: address in accounts:
        out.append(self.balanceOf[a])
    return out


@external
def move_many(senders: DynArray[address, MAX_BATCH], receivers: DynArray[address, MAX_BATCH],
              amounts: DynArray[uint256, MAX_BATCH]):
    """@notice Move balances between simulated parties, in order; custodians only."""
    assert self.is_custodian[msg.sender], "custodian only"
    assert len(senders) == len(amounts) and len(receivers) == len(amounts), "length mismatch"
    for i: uint256 in range(len(senders), bound=MAX_BATCH):
        self._move(senders[i], receivers[i], amounts[i])
