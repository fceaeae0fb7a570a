//! The `.kir` parser: text to a verified [`Graph`] with the same node ids.
//!
//! It works in two passes. The first lexes and parses each line on its own into a statement
//! (syntax only: op names, attributes, literal values, the type). The second builds the graph
//! with [`Graph::add`], so every node passes its op's type rule, and checks each annotation
//! against the inferred type.
//!
//! Ids: `%N` in the text becomes `NodeId(N)`. The printer emits nodes in topological order,
//! which is not id order once a pass has removed nodes and the `StableGraph` has reused their
//! slots, so the parser first fills slots `0..=max` with placeholder nodes; defining `%N` removes
//! placeholder `N` and immediately adds the real node, which lands in the slot just freed
//! (`StableGraph` reuses the most recently vacated slot). Placeholders for ids the text never
//! defines are removed at the end, recreating the gaps. Ids above [`MAX_NODE_ID`] are rejected
//! so that a typo cannot make the parser allocate millions of placeholders.
//!
//! Every error is [`IrError::Parse`] with the 1-based line and column (in characters) of the
//! offending token: unknown ops, malformed attributes or literals, bad types, ids used before
//! their definition or defined twice, a type rule's failure (at the op name, with the rule's
//! message), an annotation that disagrees with the inferred type (at the type), trailing tokens.

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Distribution, Op, ReduceOp, SliceRange, TensorType, UnaryOp};
use crate::shape::{AxisList, Shape};
use crate::tensor::{HostTensor, TensorData};
use std::collections::HashMap;

/// The largest `%N` the parser accepts.
pub const MAX_NODE_ID: u32 = 1 << 20;

/// Parses `.kir` text into a graph whose node ids are the text's `%N`.
pub fn parse(text: &str) -> Result<Graph> {
    let mut stmts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let toks = lex_line(line, i + 1)?;
        if toks.is_empty() {
            continue;
        }
        let mut cur = Cursor {
            toks,
            pos: 0,
            line: i + 1,
            eol_col: line.chars().count() + 1,
        };
        stmts.push(parse_stmt(&mut cur)?);
    }
    build(stmts)
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// `%N`.
    Id(u32),
    /// Op names, keywords, dtypes, `nan`, `inf`, `true`, `false`.
    Word(String),
    /// Anything that starts like a number: `12`, `-0.5`, `1e-5`, `-inf`.
    Num(String),
    /// A quoted string, escapes resolved.
    Str(String),
    /// One of `= , : [ ]`.
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    col: usize,
}

fn err(line: usize, col: usize, msg: impl Into<String>) -> IrError {
    IrError::Parse {
        line,
        col,
        msg: msg.into(),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn lex_line(line: &str, lineno: usize) -> Result<Vec<Token>> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == ';' {
            break;
        } else if c == '%' {
            let start = i + 1;
            i = start;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let id = digits
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= MAX_NODE_ID)
                .ok_or_else(|| {
                    err(
                        lineno,
                        col,
                        format!("expected a node id %N with N <= {MAX_NODE_ID} after '%'"),
                    )
                })?;
            toks.push(Token {
                tok: Tok::Id(id),
                col,
            });
        } else if c == '"' {
            let (s, next) = lex_string(&chars, i, lineno)?;
            toks.push(Token {
                tok: Tok::Str(s),
                col,
            });
            i = next;
        } else if matches!(c, '=' | ',' | ':' | '[' | ']') {
            toks.push(Token {
                tok: Tok::Punct(c),
                col,
            });
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Word(chars[start..i].iter().collect()),
                col,
            });
        } else if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') {
            let start = i;
            i += 1;
            // An exponent's sign belongs to the number: `1e-5`.
            while i < chars.len()
                && (is_word_char(chars[i])
                    || (matches!(chars[i], '+' | '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Num(chars[start..i].iter().collect()),
                col,
            });
        } else {
            return Err(err(lineno, col, format!("unexpected character '{c}'")));
        }
    }
    Ok(toks)
}

/// Lexes the string opening at `chars[open]`; returns it and the index after the closing quote.
fn lex_string(chars: &[char], open: usize, lineno: usize) -> Result<(String, usize)> {
    let mut s = String::new();
    let mut i = open + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(err(lineno, open + 1, "unterminated string"));
        };
        match c {
            '"' => return Ok((s, i + 1)),
            '\\' => {
                let bad = || {
                    err(
                        lineno,
                        i + 1,
                        "unknown escape (use \\\" \\\\ \\n \\r \\t \\u{..})",
                    )
                };
                match chars.get(i + 1) {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('u') => {
                        if chars.get(i + 2) != Some(&'{') {
                            return Err(bad());
                        }
                        let close = chars[i + 3..]
                            .iter()
                            .position(|&c| c == '}')
                            .ok_or_else(bad)?;
                        let hex: String = chars[i + 3..i + 3 + close].iter().collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(bad)?;
                        s.push(ch);
                        i += 3 + close + 1;
                        continue;
                    }
                    _ => return Err(bad()),
                }
                i += 2;
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Line parser

struct Cursor {
    toks: Vec<Token>,
    pos: usize,
    line: usize,
    /// Column reported for "end of line" errors.
    eol_col: usize,
}

fn describe(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        None => "end of line".into(),
        Some(Tok::Id(n)) => format!("`%{n}`"),
        Some(Tok::Word(w)) | Some(Tok::Num(w)) => format!("`{w}`"),
        Some(Tok::Str(s)) => format!("string {}", super::print::quote(s)),
        Some(Tok::Punct(c)) => format!("`{c}`"),
    }
}

impl Cursor {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn col(&self) -> usize {
        self.peek().map_or(self.eol_col, |t| t.col)
    }

    fn error(&self, msg: impl Into<String>) -> IrError {
        err(self.line, self.col(), msg)
    }

    fn unexpected(&self, wanted: &str) -> IrError {
        self.error(format!(
            "expected {wanted}, found {}",
            describe(self.peek())
        ))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn at_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    fn punct(&mut self, c: char) -> Result<()> {
        if !self.at_punct(c) {
            return Err(self.unexpected(&format!("`{c}`")));
        }
        self.pos += 1;
        Ok(())
    }

    fn keyword(&mut self, kw: &str) -> Result<()> {
        match self.peek() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w == kw => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.unexpected(&format!("`{kw}`"))),
        }
    }

    /// `key=` followed by whatever the caller parses next.
    fn key(&mut self, kw: &str) -> Result<()> {
        self.keyword(kw)?;
        self.punct('=')
    }

    fn id(&mut self) -> Result<(u32, usize)> {
        match self.peek() {
            Some(&Token {
                tok: Tok::Id(n),
                col,
            }) => {
                self.pos += 1;
                Ok((n, col))
            }
            _ => Err(self.unexpected("a node id `%N`")),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T> {
        match self.peek() {
            Some(Token {
                tok: Tok::Num(s), ..
            }) => {
                let v = s.parse::<T>().map_err(|_| self.unexpected(what))?;
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn usize(&mut self) -> Result<usize> {
        self.number("a non-negative integer")
    }

    /// `[a, b, ...]` of non-negative integers (possibly empty).
    fn usize_list(&mut self) -> Result<AxisList> {
        self.list(|c| c.usize()).map(AxisList::from_vec)
    }

    /// `[item, item, ...]` (possibly empty).
    fn list<T>(&mut self, mut item: impl FnMut(&mut Cursor) -> Result<T>) -> Result<Vec<T>> {
        self.punct('[')?;
        let mut items = Vec::new();
        if self.at_punct(']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.at_punct(',') {
                self.pos += 1;
            } else {
                self.punct(']')?;
                return Ok(items);
            }
        }
    }

    /// A literal token (`Num` or `Word`), returned raw: its dtype is known only later.
    fn literal(&mut self) -> Result<Token> {
        match self.peek() {
            Some(
                t @ Token {
                    tok: Tok::Num(_) | Tok::Word(_),
                    ..
                },
            ) => {
                let t = t.clone();
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected("a literal value")),
        }
    }

    fn float(&mut self) -> Result<f64> {
        let t = self.literal()?;
        match &t.tok {
            Tok::Num(s) | Tok::Word(s) => s
                .parse::<f64>()
                .map_err(|_| err(self.line, t.col, format!("`{s}` is not a float literal"))),
            Tok::Id(_) | Tok::Str(_) | Tok::Punct(_) => Err(self.unexpected("a float")),
        }
    }

    fn ty(&mut self) -> Result<TensorType> {
        let col = self.col();
        let dtype = match self.next() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => DType::from_name(&w)
                .ok_or_else(|| err(self.line, col, format!("unknown dtype `{w}`")))?,
            other => {
                return Err(err(
                    self.line,
                    col,
                    format!(
                        "expected a type like f32[2,3], found {}",
                        describe(other.as_ref())
                    ),
                ))
            }
        };
        let dims = self.usize_list()?;
        let shape = Shape::new(&dims).map_err(|e| err(self.line, col, e.to_string()))?;
        Ok(TensorType::new(dtype, shape))
    }

    fn end(&self, after: &str) -> Result<()> {
        if self.peek().is_some() {
            return Err(self.error(format!(
                "unexpected {} after {after}",
                describe(self.peek())
            )));
        }
        Ok(())
    }
}

/// A parsed line.
enum Stmt {
    Node(NodeStmt),
    Return { line: usize, ids: Vec<(u32, usize)> },
}

struct NodeStmt {
    line: usize,
    id: u32,
    id_col: usize,
    op: Op,
    op_col: usize,
    operands: Vec<(u32, usize)>,
    ty: TensorType,
    ty_col: usize,
}

/// Every op with default attributes, to find an op by its [`Op::name`] without restating the
/// names here.
fn op_templates() -> Vec<Op> {
    let mut ops = vec![
        Op::Input {
            name: String::new(),
        },
        Op::Parameter {
            name: String::new(),
        },
        Op::Constant {
            value: HostTensor::scalar(DType::F32, 0.0),
        },
        Op::Where,
        Op::Cast,
        Op::ArgMax { axis: 0 },
        Op::Reshape,
        Op::Permute {
            perm: AxisList::new(),
        },
        Op::Expand,
        Op::Slice { ranges: Vec::new() },
        Op::Pad {
            widths: Vec::new(),
            value: 0.0,
        },
        Op::Concat { axis: 0 },
        Op::Gather { axis: 0 },
        Op::ScatterAdd { axis: 0 },
        Op::MatMul,
    ];
    ops.extend(UnaryOp::ALL.map(Op::Unary));
    ops.extend(BinaryOp::ALL.map(Op::Binary));
    ops.extend(ReduceOp::ALL.map(|op| Op::Reduce {
        op,
        axes: AxisList::new(),
    }));
    ops.extend(
        [Distribution::Uniform, Distribution::Normal].map(|dist| Op::Random { dist, seed: 0 }),
    );
    ops
}

fn parse_stmt(cur: &mut Cursor) -> Result<Stmt> {
    if matches!(cur.peek(), Some(Token { tok: Tok::Word(w), .. }) if w == "return") {
        cur.pos += 1;
        let mut ids = Vec::new();
        if cur.peek().is_some() {
            ids.push(cur.id()?);
            while cur.at_punct(',') {
                cur.pos += 1;
                ids.push(cur.id()?);
            }
        }
        cur.end("the outputs")?;
        return Ok(Stmt::Return {
            line: cur.line,
            ids,
        });
    }
    let (id, id_col) = cur.id()?;
    cur.punct('=')?;
    let op_col = cur.col();
    let mut op = match cur.next() {
        Some(Token {
            tok: Tok::Word(w), ..
        }) => op_templates()
            .into_iter()
            .find(|op| op.name() == w)
            .ok_or_else(|| err(cur.line, op_col, format!("unknown op `{w}`")))?,
        other => {
            return Err(err(
                cur.line,
                op_col,
                format!("expected an op name, found {}", describe(other.as_ref())),
            ))
        }
    };
    let mut operands = Vec::new();
    if matches!(
        cur.peek(),
        Some(Token {
            tok: Tok::Id(_),
            ..
        })
    ) {
        operands.push(cur.id()?);
        while cur.at_punct(',') {
            cur.pos += 1;
            operands.push(cur.id()?);
        }
    }
    // A constant's values are read after its type, which gives their dtype and count.
    let mut literal: Option<(Vec<Token>, usize)> = None;
    match &mut op {
        Op::Input { name } | Op::Parameter { name } => match cur.next() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => *name = s,
            other => {
                cur.pos -= 1;
                return Err(cur.error(format!(
                    "expected a quoted name, found {}",
                    describe(other.as_ref())
                )));
            }
        },
        Op::Constant { .. } => {
            let col = cur.col();
            let values = if cur.at_punct('[') {
                cur.list(|c| c.literal())?
            } else {
                vec![cur.literal()?]
            };
            literal = Some((values, col));
        }
        Op::Reduce { axes, .. } => {
            cur.key("axes")?;
            *axes = cur.usize_list()?;
        }
        Op::ArgMax { axis }
        | Op::Concat { axis }
        | Op::Gather { axis }
        | Op::ScatterAdd { axis } => {
            cur.key("axis")?;
            *axis = cur.usize()?;
        }
        Op::Permute { perm } => {
            cur.key("perm")?;
            *perm = cur.usize_list()?;
        }
        Op::Slice { ranges } => {
            *ranges = cur.list(|c| {
                let start = c.usize()?;
                c.punct(':')?;
                let end = c.usize()?;
                c.punct(':')?;
                let step = c.usize()?;
                Ok(SliceRange { start, end, step })
            })?;
        }
        Op::Pad { widths, value } => {
            *widths = cur.list(|c| {
                let before = c.usize()?;
                c.punct(':')?;
                Ok((before, c.usize()?))
            })?;
            cur.key("value")?;
            *value = cur.float()?;
        }
        Op::Random { seed, .. } => {
            cur.key("seed")?;
            *seed = cur.number("a seed (a u64)")?;
        }
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::Reshape
        | Op::Expand
        | Op::MatMul => {}
    }
    cur.punct(':')?;
    let ty_col = cur.col();
    let ty = cur.ty()?;
    cur.end("the type")?;
    if let (Op::Constant { value }, Some((values, col))) = (&mut op, literal) {
        *value = constant(cur.line, col, &values, &ty)?;
    }
    Ok(Stmt::Node(NodeStmt {
        line: cur.line,
        id,
        id_col,
        op,
        op_col,
        operands,
        ty,
        ty_col,
    }))
}

/// Builds a constant's value from its literal tokens and its annotated type.
fn constant(line: usize, col: usize, values: &[Token], ty: &TensorType) -> Result<HostTensor> {
    let numel = ty.shape.numel();
    if values.len() != numel {
        return Err(err(
            line,
            col,
            format!(
                "{} value(s) given for type {ty}, which holds {numel}",
                values.len()
            ),
        ));
    }
    fn each<T: std::str::FromStr>(line: usize, values: &[Token], dtype: DType) -> Result<Vec<T>> {
        values
            .iter()
            .map(|t| match &t.tok {
                Tok::Num(s) | Tok::Word(s) => s
                    .parse::<T>()
                    .map_err(|_| err(line, t.col, format!("`{s}` is not a valid {dtype} literal"))),
                Tok::Id(_) | Tok::Str(_) | Tok::Punct(_) => {
                    Err(err(line, t.col, "expected a literal value"))
                }
            })
            .collect()
    }
    let data = match ty.dtype {
        // Only the words `true` and `false`: `str::parse::<bool>` accepts exactly those.
        DType::Bool => TensorData::Bool(each(line, values, ty.dtype)?),
        DType::I32 => TensorData::I32(each(line, values, ty.dtype)?),
        DType::I64 => TensorData::I64(each(line, values, ty.dtype)?),
        // Parsed at their own width, so an f32 literal is rounded once, exactly as printed.
        DType::F32 => TensorData::F32(each(line, values, ty.dtype)?),
        DType::F64 => TensorData::F64(each(line, values, ty.dtype)?),
    };
    HostTensor::new(ty.shape.clone(), data).map_err(|e| err(line, col, e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Graph construction

fn build(stmts: Vec<Stmt>) -> Result<Graph> {
    let mut g = Graph::new();
    let max_id = stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Node(n) => Some(n.id),
            Stmt::Return { .. } => None,
        })
        .max();
    // Placeholders reserve every slot up to the largest id (see the module docs).
    if let Some(max_id) = max_id {
        for i in 0..=max_id {
            let id = g.add(
                Op::Input {
                    name: String::new(),
                },
                &[],
                Some(TensorType::new(DType::F32, Shape::scalar())),
            )?;
            debug_assert_eq!(id, NodeId(i));
        }
    }
    // Text id -> line of its definition.
    let mut defined: HashMap<u32, usize> = HashMap::new();
    let mut returned: Option<usize> = None;
    for stmt in stmts {
        match stmt {
            Stmt::Node(n) => {
                if let Some(ret) = returned {
                    return Err(err(
                        n.line,
                        n.id_col,
                        format!("nodes must come before `return` (line {ret})"),
                    ));
                }
                if let Some(first) = defined.get(&n.id) {
                    return Err(err(
                        n.line,
                        n.id_col,
                        format!("%{} is defined twice (first on line {first})", n.id),
                    ));
                }
                let operands = resolve(n.line, &n.operands, &defined)?;
                let want = NodeId(n.id);
                // The placeholder has no users, so removing it cannot fail; its slot is the one
                // `add` fills next.
                g.remove(want)?;
                let name = n.op.name();
                let declared = n.ty.clone();
                let got = g
                    .add(n.op, &operands, Some(n.ty))
                    .map_err(|e| err(n.line, n.op_col, e.to_string()))?;
                if got != want {
                    return Err(err(
                        n.line,
                        n.id_col,
                        format!("internal error: %{} was created as {got}", n.id),
                    ));
                }
                let inferred = &g.node(got)?.ty;
                if *inferred != declared {
                    return Err(err(
                        n.line,
                        n.ty_col,
                        format!(
                            "type annotation {declared} disagrees with {inferred}, the type {name} gives"
                        ),
                    ));
                }
                defined.insert(n.id, n.line);
            }
            Stmt::Return { line, ids } => {
                if let Some(first) = returned {
                    return Err(err(
                        line,
                        1,
                        format!("a second `return` (the first is on line {first})"),
                    ));
                }
                let outputs = resolve(line, &ids, &defined)?;
                g.set_outputs(&outputs)?;
                returned = Some(line);
            }
        }
    }
    if let Some(max_id) = max_id {
        for i in 0..=max_id {
            if !defined.contains_key(&i) {
                g.remove(NodeId(i))?;
            }
        }
    }
    Ok(g)
}

fn resolve(
    line: usize,
    ids: &[(u32, usize)],
    defined: &HashMap<u32, usize>,
) -> Result<Vec<NodeId>> {
    ids.iter()
        .map(|&(id, col)| {
            if defined.contains_key(&id) {
                Ok(NodeId(id))
            } else {
                Err(err(
                    line,
                    col,
                    format!("%{id} is used before it is defined"),
                ))
            }
        })
        .collect()
}
