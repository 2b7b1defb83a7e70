//! A sequence strategy that shrinks to a sequence from which no operation can be removed.

use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// Sequences of `element`, shrunk harder than `prop::collection::vec`: that one makes a single
/// pass deleting operations and then simplifies the rest, so an operation simplified into a no-op
/// late stays in the result. This one repeats rounds of "delete each operation that is not needed,
/// then simplify each one" until a round changes nothing, so the sequence reported is one from
/// which no single operation can be removed.
#[derive(Debug)]
pub struct Sequence<S> {
    pub element: S,
    pub len: std::ops::Range<usize>,
}

impl<S> Strategy for Sequence<S>
where
    S: Strategy,
    S::Value: PartialEq,
{
    type Tree = SequenceTree<S::Tree>;
    type Value = Vec<S::Value>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let len = self.len.new_tree(runner)?.current();
        let trees = (0..len)
            .map(|_| self.element.new_tree(runner))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tree = SequenceTree {
            included: vec![true; trees.len()],
            trees,
            phase: Phase::Delete(0),
            undo: None,
            round_start: Vec::new(),
        };
        tree.round_start = tree.current();
        Ok(tree)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Delete(usize),
    Simplify(usize),
    Done,
}

#[derive(Debug)]
pub struct SequenceTree<T: ValueTree> {
    trees: Vec<T>,
    included: Vec<bool>,
    phase: Phase,
    undo: Option<Phase>,
    round_start: Vec<T::Value>,
}

impl<T> ValueTree for SequenceTree<T>
where
    T: ValueTree,
    T::Value: PartialEq,
{
    type Value = Vec<T::Value>;

    fn current(&self) -> Vec<T::Value> {
        self.trees
            .iter()
            .zip(&self.included)
            .filter(|(_, included)| **included)
            .map(|(tree, _)| tree.current())
            .collect()
    }

    fn simplify(&mut self) -> bool {
        loop {
            match self.phase {
                Phase::Delete(ix) => {
                    let left = self.included.iter().filter(|included| **included).count();
                    if ix >= self.trees.len() || left <= 1 {
                        self.phase = Phase::Simplify(0);
                    } else if self.included[ix] {
                        self.included[ix] = false;
                        self.undo = Some(Phase::Delete(ix));
                        self.phase = Phase::Delete(ix + 1);
                        return true;
                    } else {
                        self.phase = Phase::Delete(ix + 1);
                    }
                }
                Phase::Simplify(ix) if ix >= self.trees.len() => {
                    let now = self.current();
                    if now == self.round_start {
                        self.phase = Phase::Done;
                        return false;
                    }
                    self.round_start = now;
                    self.phase = Phase::Delete(0);
                }
                Phase::Simplify(ix) => {
                    if self.included[ix] && self.trees[ix].simplify() {
                        self.undo = Some(Phase::Simplify(ix));
                        return true;
                    }
                    self.phase = Phase::Simplify(ix + 1);
                }
                Phase::Done => return false,
            }
        }
    }

    fn complicate(&mut self) -> bool {
        match self.undo.take() {
            Some(Phase::Delete(ix)) => {
                self.included[ix] = true;
                true
            }
            Some(Phase::Simplify(ix)) if self.trees[ix].complicate() => {
                self.undo = Some(Phase::Simplify(ix));
                true
            }
            _ => false,
        }
    }
}
