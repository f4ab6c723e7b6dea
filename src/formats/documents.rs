//! Records written as documents rather than lines: Windows events exported as pretty-printed
//! JSON (`evtx_dump`'s default output, one object per record after a `Record N` line; a JSON
//! array of records) or as XML (`evtx_dump -o xml`, `Get-WinEvent … | % ToXml()`, `wevtutil qe
//! /f:xml`, Event Viewer's "Save All Events As… XML", which puts every event on one line).
//!
//! A [`Splitter`] is fed the file line by line, each line whole or in pieces (memory does not
//! follow a line's length), and cuts it into [`Segment`]s: each document (a top-level JSON
//! object, an `<Event>` element) and, between them, the text of each line outside any document
//! (banners, `[`, `,`, `<?xml …?>`, `<Events>`), which the framer skips when it is one of those
//! and reports as malformed otherwise. Several documents may share a line. A document cut short
//! ends where the next one visibly starts (a banner, an `<Event>` starting a line, a `{` at its
//! own indent, a compact `{"Event":`), so a damaged file loses only the damaged record.

use std::collections::VecDeque;

/// The syntax of the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// JSON objects, pretty-printed or not, alone or in an array.
    Json,
    /// `<Event>` elements of the Windows event schema.
    EventXml,
}

/// A document longer than this is malformed (its excerpt is kept, the rest is read past): the
/// largest EVTX record, rendered, is a few hundred KiB.
pub const MAX_DOCUMENT: usize = 16 << 20;

/// Why a document is malformed whatever its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Longer than [`MAX_DOCUMENT`].
    TooLong,
    /// The file, or the next record's start, came before its end.
    Unterminated,
}

impl Cut {
    pub fn reason(self) -> &'static str {
        match self {
            Cut::TooLong => "a record or line longer than 16 MiB",
            Cut::Unterminated => "a record not closed before the next one or the end of the file",
        }
    }
}

/// A document or the text of one line between documents.
#[derive(Debug, PartialEq, Eq)]
pub struct Segment {
    /// The line it starts on (1-based).
    pub line: u64,
    /// The lines it spans.
    pub span: u64,
    pub bytes: Vec<u8>,
    pub document: bool,
    pub cut: Option<Cut>,
}

/// Where the splitter is.
#[derive(Debug)]
enum State {
    Between,
    Json {
        depth: usize,
        in_string: bool,
        escaped: bool,
    },
    Xml(XmlScanner),
}

/// Cuts a file into documents and the text between them.
#[derive(Debug)]
pub struct Splitter {
    syntax: Syntax,
    state: State,
    /// The document being read: its first line, its bytes so far, how long it really is.
    doc: Vec<u8>,
    doc_line: u64,
    doc_len: usize,
    /// The column the document starts at.
    doc_indent: usize,
    /// How much of `{"Event":` the last bytes read match, and whether the document began so.
    event_key: u8,
    doc_is_event: bool,
    /// Bytes of the current line fed so far (a line comes in pieces: see [`Self::push`]).
    column: usize,
    /// Text between documents on the current line so far (its start, for its excerpt and to
    /// tell filler), and the bytes that may begin the next `<Event` at a piece's end.
    filler: Vec<u8>,
    carry: Vec<u8>,
    ready: VecDeque<Segment>,
}

/// How a compact `evtx_dump` record begins.
const EVENT_KEY: &[u8] = b"{\"Event\":";

/// The longest line that can start a new JSON record inside an open one (a banner, or a `{`
/// after its indent): a longer line is read as the open record's.
const RESTART_LINE_MAX: usize = 256;

/// Whether the start of a line may still turn out to be a banner or a lone `{` (a loose test:
/// the line's end decides).
fn could_restart(start: &[u8]) -> bool {
    start
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_whitespace() || b"{()".contains(b))
}

/// Text between documents kept for its excerpt and to tell filler: the longest filler is an
/// XML declaration with the `<Events>` wrapper.
const FILLER_KEPT: usize = 4096;

impl Splitter {
    pub fn new(syntax: Syntax) -> Self {
        Splitter {
            syntax,
            state: State::Between,
            doc: Vec::new(),
            doc_line: 0,
            doc_len: 0,
            doc_indent: 0,
            event_key: 0,
            doc_is_event: false,
            column: 0,
            filler: Vec::new(),
            carry: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next segment cut so far.
    pub fn pop(&mut self) -> Option<Segment> {
        self.ready.pop_front()
    }

    /// Whether a document cut so far (not popped yet) starts on `line`.
    pub fn document_on(&self, line: u64) -> bool {
        self.ready.iter().any(|s| s.document && s.line == line)
    }

    /// Whether the document being read started on `line`.
    pub fn open_document_on(&self, line: u64) -> bool {
        !matches!(self.state, State::Between) && self.doc_line == line
    }

    /// Feeds one whole physical line (with its line end, if any).
    pub fn push_line(&mut self, line: &[u8], number: u64) {
        self.push(line, number, true);
    }

    /// Feeds a piece of physical line `number`; `ends_line` on its last piece. A line is read
    /// in pieces so that memory does not follow its length: Event Viewer writes a whole log on
    /// one line.
    pub fn push(&mut self, piece: &[u8], number: u64, ends_line: bool) {
        let joined;
        let piece = if self.carry.is_empty() {
            piece
        } else {
            // The carried bytes were not counted in `column`: they start where it points.
            let mut carry = std::mem::take(&mut self.carry);
            carry.extend_from_slice(piece);
            joined = carry;
            &joined[..]
        };
        let mut rest = piece;
        while !rest.is_empty() {
            let column = self.column + piece.len() - rest.len();
            rest = match self.state {
                State::Between => self.between(rest, number, column, ends_line),
                State::Json { .. } if column == 0 && self.doc_line < number => {
                    if !ends_line && piece.len() <= RESTART_LINE_MAX && could_restart(piece) {
                        // The start of a line that may be a restart: wait for the rest of it.
                        self.carry.extend_from_slice(piece);
                        break;
                    }
                    if ends_line && self.json_restarts(piece) {
                        // The record was cut short: the next one starts on this line.
                        self.end_document(number - 1, Some(Cut::Unterminated));
                        continue;
                    }
                    self.json(rest, number, column, ends_line)
                }
                State::Json { .. } => self.json(rest, number, column, ends_line),
                // Not at a banner: an event's text may hold a line that reads like one.
                State::Xml { .. } => self.xml(rest, number, column),
            };
        }
        self.column += piece.len() - self.carry.len();
        if ends_line {
            self.end_filler(number);
            self.column = 0;
        }
    }

    /// The text between documents gathered on this line, as a segment.
    fn end_filler(&mut self, number: u64) {
        let filler = self.filler.trim_ascii();
        if !filler.is_empty() {
            self.ready.push_back(Segment {
                line: number,
                span: 1,
                bytes: filler.to_vec(),
                document: false,
                cut: None,
            });
        }
        self.filler.clear();
    }

    /// The end of the file: a document still open is cut short (returns whether one was).
    pub fn finish(&mut self, last_line: u64) -> bool {
        let open = !matches!(self.state, State::Between);
        if open {
            self.end_document(last_line, Some(Cut::Unterminated));
        }
        open
    }

    /// Text outside documents, up to the start of the next one on this line.
    /// Whether a line starts a new JSON record while one is open: `evtx_dump`'s banner, or a
    /// `{` alone on its line no deeper than the open record's own (pretty-printed JSON opens a
    /// nested object after its key, `"System": {`, and an array's at a deeper indent). A JSON
    /// string holds no line end, so no value can read like either.
    fn json_restarts(&self, line: &[u8]) -> bool {
        let indent = line
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        line.len() <= RESTART_LINE_MAX
            && (is_banner(line) || (line.trim_ascii() == b"{" && indent <= self.doc_indent))
    }

    fn between<'l>(
        &mut self,
        text: &'l [u8],
        number: u64,
        column: usize,
        ends_line: bool,
    ) -> &'l [u8] {
        let start = match self.syntax {
            Syntax::Json => memchr::memchr(b'{', text),
            Syntax::EventXml => find_event_start_in(text, !ends_line),
        };
        let (filler, rest) = text.split_at(start.unwrap_or(text.len()));
        // The line goes on in the next piece: its last bytes may begin an `<Event`.
        let carried = match (start, ends_line, self.syntax) {
            (None, false, Syntax::EventXml) => (1..=filler.len().min(6))
                .rev()
                .find(|&n| b"<Event".starts_with(&filler[filler.len() - n..]))
                .unwrap_or(0),
            _ => 0,
        };
        let (filler, carry) = filler.split_at(filler.len() - carried);
        self.carry.extend_from_slice(carry);
        let room = FILLER_KEPT.saturating_sub(self.filler.len());
        self.filler
            .extend_from_slice(&filler[..filler.len().min(room)]);
        if let Some(start) = start {
            self.end_filler(number);
            self.begin(number, column + start, b"");
            self.state = match self.syntax {
                Syntax::Json => State::Json {
                    depth: 0,
                    in_string: false,
                    escaped: false,
                },
                Syntax::EventXml => State::Xml(XmlScanner::default()),
            };
        }
        rest
    }

    /// Begins a document at `column` of line `number`, with its `first` bytes (the caller sets
    /// the state that reading them left).
    fn begin(&mut self, number: u64, column: usize, first: &[u8]) {
        self.doc.clear();
        self.doc.extend_from_slice(first);
        self.doc_len = first.len();
        self.doc_line = number;
        self.doc_indent = column;
        self.event_key = 0;
        self.doc_is_event = false;
    }

    /// Ends the open document, cut short where the next one visibly begins: its `start` (`<Event`,
    /// `{"Event":`) ends `end` bytes into `text`, which begins at `column` of its line. Returns
    /// where in `text` the next one begins, and how many of its bytes came in the last piece:
    /// with some, the next document is begun with them (the caller sets its state).
    fn cut_before(
        &mut self,
        text: &[u8],
        end: usize,
        start: &[u8],
        number: u64,
        column: usize,
    ) -> (usize, usize) {
        let (at, back) = match end.checked_sub(start.len()) {
            Some(at) => (at, 0),
            None => (0, start.len() - end),
        };
        self.keep(&text[..at]);
        if back > 0 {
            let kept = self.doc.len().saturating_sub(back);
            self.doc.truncate(kept);
            self.doc_len = self.doc_len.saturating_sub(back);
        }
        // It ended on the line before when the next one starts its line.
        let last = if column + at == back && self.doc_line < number {
            number - 1
        } else {
            number
        };
        self.end_document(last, Some(Cut::Unterminated));
        if back > 0 {
            self.begin(number, column - back, &start[..back]);
        }
        (at, back)
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.doc_len += bytes.len();
        let room = MAX_DOCUMENT.saturating_sub(self.doc.len());
        self.doc.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_document(&mut self, last_line: u64, cut: Option<Cut>) {
        let cut = cut.or((self.doc_len > MAX_DOCUMENT).then_some(Cut::TooLong));
        let mut bytes = std::mem::take(&mut self.doc);
        if cut.is_some() {
            // Only its start is shown; the rest would only cost memory.
            bytes.truncate(256);
        }
        self.ready.push_back(Segment {
            line: self.doc_line,
            span: last_line.saturating_sub(self.doc_line) + 1,
            bytes,
            document: true,
            cut,
        });
        self.state = State::Between;
    }

    fn json<'l>(
        &mut self,
        text: &'l [u8],
        number: u64,
        column: usize,
        ends_line: bool,
    ) -> &'l [u8] {
        let State::Json {
            mut depth,
            mut in_string,
            mut escaped,
        } = self.state
        else {
            return text;
        };
        let before = self.doc_len;
        let mut end = None;
        let mut restart = None;
        for (i, &b) in text.iter().enumerate() {
            // `{"Event":` is no string's content (its quote would end the string): one opening
            // inside a record that began so (a compact array of `evtx_dump`'s records) means
            // that record was cut short, and the next starts at its `{`.
            let k = usize::from(self.event_key);
            let k = if b == EVENT_KEY[k] {
                k + 1
            } else {
                usize::from(b == b'{')
            };
            if k == EVENT_KEY.len() {
                self.event_key = 0;
                if before + i + 1 == EVENT_KEY.len() {
                    self.doc_is_event = true;
                } else if self.doc_is_event {
                    restart = Some(i + 1);
                    break;
                }
            } else {
                self.event_key = k as u8;
            }
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let Some(key_end) = restart {
            // A compact record follows one cut short.
            let (at, back) = self.cut_before(text, key_end, EVENT_KEY, number, column);
            if back == 0 {
                return &text[at..];
            }
            // It reads this piece from its start as the rest of its key.
            self.event_key = back as u8;
            self.state = State::Json {
                depth: 1,
                // Within `"Event"`: after its opening quote, before its closing one.
                in_string: (2..=7).contains(&back),
                escaped: false,
            };
            return text;
        }
        match end {
            Some(end) => {
                self.keep(&text[..end]);
                self.end_document(number, None);
                &text[end..]
            }
            None => {
                self.keep(text);
                if in_string && ends_line {
                    // A line end inside a string: no JSON holds one, the record was cut here.
                    self.end_document(number, Some(Cut::Unterminated));
                    return &[];
                }
                self.state = State::Json {
                    depth,
                    in_string,
                    escaped,
                };
                &[]
            }
        }
    }

    fn xml<'l>(&mut self, text: &'l [u8], number: u64, column: usize) -> &'l [u8] {
        let State::Xml(scanner) = &mut self.state else {
            return text;
        };
        // Byte by byte, once each: a tag, a comment or CDATA may run over a line end, and
        // Event Viewer puts thousands of events on one line.
        match scanner.scan(text, column) {
            XmlScan::Closed(end) => {
                self.keep(&text[..end]);
                self.end_document(number, None);
                &text[end..]
            }
            XmlScan::Restart(name_end) => {
                // An `<Event>` inside an open one starting its line: the open one was cut
                // short, and this one starts at its `<`.
                let (at, back) = self.cut_before(text, name_end, b"<Event", number, column);
                if back == 0 {
                    return &text[at..];
                }
                // Its tag's name read so far.
                let mut name = [0; 8];
                name[..back - 1].copy_from_slice(&b"Event"[..back - 1]);
                self.state = State::Xml(XmlScanner {
                    depth: 0,
                    at: XmlAt::Open {
                        name,
                        len: (back - 1) as u8,
                    },
                });
                text
            }
            XmlScan::Open => {
                self.keep(text);
                &[]
            }
        }
    }
}

/// Whether `head` starts (after filler only) with the beginning of a Windows event too long to
/// be whole in it: `evtx_dump`'s JSON (`{` then `"Event": {`), or an `<Event>` of the event
/// schema's namespace.
pub fn starts_windows_event(syntax: Syntax, head: &str) -> bool {
    let mut lines = head
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_filler(syntax, l.as_bytes()));
    match syntax {
        Syntax::Json => {
            let first = lines.next().unwrap_or("");
            if !first.starts_with(['{', '[']) {
                return false;
            }
            let first = first.trim_start_matches(['[', ',', ' ']);
            let start = if first == "{" {
                lines.next().unwrap_or("")
            } else {
                first.trim_start_matches('{').trim_start()
            };
            start.starts_with("\"Event\":") || start.starts_with("\"Event\" :")
        }
        Syntax::EventXml => find_event_start(head.as_bytes()).is_some_and(|at| {
            let before = &head.as_bytes()[..at];
            if !before.split(|b| *b == b'\n').all(|l| is_filler(syntax, l)) {
                return false;
            }
            let tag = &head.as_bytes()[at..head.len().min(at + 200)];
            memchr::memmem::find(tag, b"schemas.microsoft.com/win/2004/08/events/event").is_some()
        }),
    }
}

/// A `Record N` line as `evtx_dump` writes before each record.
pub fn is_banner(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    let Some(rest) = line.strip_prefix(b"Record ") else {
        return false;
    };
    let rest = rest.strip_suffix(b" (recovered)").unwrap_or(rest);
    !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
}

/// Whether text starts with an `<Event>` element (not `<Events>`, the wrapper).
pub fn starts_event(text: &[u8]) -> bool {
    find_event_start(text) == Some(0)
}

/// Where an `<Event` element starts.
fn find_event_start(text: &[u8]) -> Option<usize> {
    find_event_start_in(text, false)
}

/// Where an `<Event` element starts; with `more` text to follow, one at the very end is not
/// known to be one yet (it may be `<Events`).
fn find_event_start_in(text: &[u8], more: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&text[from..], b"<Event") {
        let at = from + i;
        let known = match text.get(at + 6) {
            Some(b) => matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'),
            None => !more,
        };
        if known {
            return Some(at);
        }
        from = at + 6;
    }
    None
}

/// What reading more of an `<Event>` element found.
enum XmlScan {
    /// It closes just before this offset.
    Closed(usize),
    /// Another `<Event>` starts inside this one, which was cut short: where its name ends.
    Restart(usize),
    Open,
}

/// Where an `<Event>` element's reading is, kept from one line to the next.
#[derive(Debug, Default)]
struct XmlScanner {
    /// `<Event>` elements open (an item could be named `Event` too).
    depth: usize,
    at: XmlAt,
}

#[derive(Debug, Default, Clone, Copy)]
enum XmlAt {
    #[default]
    Text,
    /// After `<`: the first bytes of the name, until they tell what opens.
    Open {
        name: [u8; 8],
        len: u8,
    },
    /// In a tag, up to its `>`; attribute values read past whole.
    Tag {
        kind: TagKind,
        quote: Option<u8>,
        last: u8,
    },
    /// In a comment or CDATA section: how many of its closing `-`/`]` have been seen.
    Comment {
        closing: u8,
    },
    CData {
        closing: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    OpenEvent,
    CloseEvent,
    Other,
}

fn is_name_end(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
}

impl XmlScanner {
    /// Reads `text`, which starts at `column` of its line: where the element closes (just after
    /// its `>`), or where another starts.
    fn scan(&mut self, text: &[u8], column: usize) -> XmlScan {
        for (i, &b) in text.iter().enumerate() {
            self.at = match self.at {
                XmlAt::Text => match b {
                    b'<' => XmlAt::Open {
                        name: [0; 8],
                        len: 0,
                    },
                    _ => XmlAt::Text,
                },
                XmlAt::Open { mut name, len } => {
                    let seen = &name[..usize::from(len)];
                    let kind = if seen == b"Event" && is_name_end(b) {
                        Some(TagKind::OpenEvent)
                    } else if seen == b"/Event" && is_name_end(b) {
                        Some(TagKind::CloseEvent)
                    } else {
                        None
                    };
                    let mut next = [0u8; 9];
                    next[..seen.len()].copy_from_slice(seen);
                    next[seen.len()] = b;
                    let next = &next[..=seen.len()];
                    if next == b"!--" {
                        XmlAt::Comment { closing: 0 }
                    } else if next == b"![CDATA[" {
                        XmlAt::CData { closing: 0 }
                    } else if let Some(kind) = kind {
                        // An `<Event>` inside one starts the next record when it starts its line
                        // (evtx_dump's, wevtutil's layouts): the one open was cut short. Inside
                        // a line it is an element of the event's own (LanguagePackSetup's
                        // UserData holds one).
                        if kind == TagKind::OpenEvent && self.depth > 0 && column + i == 6 {
                            return XmlScan::Restart(i);
                        }
                        self.in_tag(kind, None, 0, b)
                    } else if [&b"!--"[..], b"![CDATA[", b"Event", b"/Event"]
                        .iter()
                        .any(|w| w.starts_with(next))
                    {
                        name[seen.len()] = b;
                        XmlAt::Open { name, len: len + 1 }
                    } else {
                        self.in_tag(TagKind::Other, None, 0, b)
                    }
                }
                XmlAt::Tag { kind, quote, last } => self.in_tag(kind, quote, last, b),
                XmlAt::Comment { closing } => match b {
                    b'-' => XmlAt::Comment {
                        closing: (closing + 1).min(2),
                    },
                    b'>' if closing == 2 => XmlAt::Text,
                    _ => XmlAt::Comment { closing: 0 },
                },
                XmlAt::CData { closing } => match b {
                    b']' => XmlAt::CData {
                        closing: (closing + 1).min(2),
                    },
                    b'>' if closing == 2 => XmlAt::Text,
                    _ => XmlAt::CData { closing: 0 },
                },
            };
            if matches!(self.at, XmlAt::Text) && b == b'>' && self.depth == 0 {
                return XmlScan::Closed(i + 1);
            }
        }
        XmlScan::Open
    }

    /// One byte of a tag.
    fn in_tag(&mut self, kind: TagKind, quote: Option<u8>, last: u8, b: u8) -> XmlAt {
        match (quote, b) {
            // No tag, nor attribute value, holds a `<`: the tag was cut short, and what follows
            // is read as a tag (an `<Event>` there starts the next record).
            (_, b'<') => XmlAt::Open {
                name: [0; 8],
                len: 0,
            },
            (Some(q), _) if b == q => XmlAt::Tag {
                kind,
                quote: None,
                last: b,
            },
            (Some(_), _) => XmlAt::Tag { kind, quote, last },
            (None, b'"' | b'\'') => XmlAt::Tag {
                kind,
                quote: Some(b),
                last: b,
            },
            (None, b'>') => {
                match kind {
                    TagKind::OpenEvent if last != b'/' => self.depth += 1,
                    TagKind::CloseEvent => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
                XmlAt::Text
            }
            (None, _) => XmlAt::Tag {
                kind,
                quote: None,
                last: b,
            },
        }
    }
}

/// The length of a tag up to and including its `>`, attribute values read past whole.
fn tag_end(tag: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in tag.iter().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i + 1),
            None => {}
        }
    }
    None
}

/// Whether text between documents is only what exporters put there: `evtx_dump`'s banners, an
/// array's brackets and commas, the XML declaration, comments and the `<Events>` wrapper.
pub fn is_filler(syntax: Syntax, text: &[u8]) -> bool {
    let mut rest = text.trim_ascii();
    if is_banner(rest) {
        return true;
    }
    while !rest.is_empty() {
        rest = match syntax {
            Syntax::Json => match rest[0] {
                b'[' | b']' | b',' => &rest[1..],
                _ => return false,
            },
            Syntax::EventXml => {
                let end = if rest.starts_with(b"<?") {
                    memchr::memmem::find(rest, b"?>").map(|e| e + 2)
                } else if rest.starts_with(b"<!--") {
                    memchr::memmem::find(rest, b"-->").map(|e| e + 3)
                } else if rest.starts_with(b"<Events") || rest.starts_with(b"</Events") {
                    tag_end(rest)
                } else {
                    None
                };
                match end {
                    Some(e) => &rest[e..],
                    None => return false,
                }
            }
        }
        .trim_ascii();
    }
    true
}

/// Lines of other text a file may start with before its first record (a tool's message
/// redirected with its output: `evtx_dump … > out 2>&1`); each is malformed at ingest.
const OTHER_TEXT_BEFORE: usize = 3;

/// The first whole document of `head` (the start of a file), when the text before it is filler
/// or a few lines of other text.
pub fn first_document(syntax: Syntax, head: &str) -> Option<String> {
    let mut splitter = Splitter::new(syntax);
    let mut other = 0;
    for (i, line) in head.split_inclusive('\n').enumerate() {
        splitter.push_line(line.as_bytes(), i as u64 + 1);
        while let Some(seg) = splitter.pop() {
            if !seg.document {
                if !is_filler(syntax, &seg.bytes) {
                    other += 1;
                    if other > OTHER_TEXT_BEFORE {
                        return None;
                    }
                }
                continue;
            }
            return match seg.cut {
                None => String::from_utf8(seg.bytes).ok(),
                Some(_) => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(syntax: Syntax, text: &str) -> Vec<(u64, u64, String, bool, Option<Cut>)> {
        let mut s = Splitter::new(syntax);
        let mut out = Vec::new();
        let mut n = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            n = i as u64 + 1;
            s.push_line(line.as_bytes(), n);
        }
        s.finish(n);
        while let Some(seg) = s.pop() {
            out.push((
                seg.line,
                seg.span,
                String::from_utf8_lossy(&seg.bytes).into_owned(),
                seg.document,
                seg.cut,
            ));
        }
        out
    }

    #[test]
    fn evtx_dump_json_records_after_their_banners() {
        let text = "Record 1\n{\n  \"a\": \"} { \\\" ]\",\n  \"b\": [1, {\"c\": 2}]\n}\nRecord 2 (recovered)\n{\"x\": {}}\n";
        let got = split(Syntax::Json, text);
        assert_eq!(
            got,
            vec![
                (1, 1, "Record 1".into(), false, None),
                (
                    2,
                    4,
                    "{\n  \"a\": \"} { \\\" ]\",\n  \"b\": [1, {\"c\": 2}]\n}".into(),
                    true,
                    None
                ),
                (6, 1, "Record 2 (recovered)".into(), false, None),
                (7, 1, "{\"x\": {}}".into(), true, None),
            ]
        );
        assert!(is_filler(Syntax::Json, b"Record 2 (recovered)"));
    }

    #[test]
    fn a_json_array_on_one_line_or_many() {
        let got = split(Syntax::Json, "[{\"a\":1},{\"a\":2},\n {\"a\":3}\n]\n");
        let docs: Vec<_> = got
            .iter()
            .filter(|s| s.3)
            .map(|s| (s.0, &s.2[..]))
            .collect();
        assert_eq!(
            docs,
            vec![(1, "{\"a\":1}"), (1, "{\"a\":2}"), (2, "{\"a\":3}")]
        );
        for s in got.iter().filter(|s| !s.3) {
            assert!(is_filler(Syntax::Json, s.2.as_bytes()), "{:?}", s.2);
        }
        assert!(!is_filler(Syntax::Json, b"garbage"));
    }

    #[test]
    fn a_cut_record_ends_at_the_next_banner_or_the_end() {
        let got = split(
            Syntax::Json,
            "Record 1\n{\n \"a\": {\nRecord 2\n{\"b\":1}\n{\"c\":\n",
        );
        let docs: Vec<_> = got
            .iter()
            .filter(|s| s.3)
            .map(|s| (s.0, s.1, s.4))
            .collect();
        assert_eq!(
            docs,
            vec![
                (2, 2, Some(Cut::Unterminated)),
                (5, 1, None),
                (6, 1, Some(Cut::Unterminated))
            ]
        );
    }

    /// A record cut in the middle of a file (a copy cut off and appended to, a crash) loses
    /// only itself: the next record is found where it starts.
    #[test]
    fn the_record_after_a_cut_one_is_read() {
        let docs = |syntax, text: &str| -> Vec<(u64, u64, Option<Cut>)> {
            split(syntax, text)
                .into_iter()
                .filter(|s| s.3)
                .map(|s| (s.0, s.1, s.4))
                .collect()
        };
        let cut = Some(Cut::Unterminated);
        // Pretty JSON without banners, cut outside a string and inside one.
        let pretty = "{\n  \"a\": {\n    \"b\": 1\n{\n  \"c\": 2\n}\n";
        assert_eq!(docs(Syntax::Json, pretty), vec![(1, 3, cut), (4, 3, None)]);
        let in_string = "{\n  \"a\": \"cut he\n{\n  \"c\": 2\n}\n";
        assert_eq!(
            docs(Syntax::Json, in_string),
            vec![(1, 2, cut), (3, 3, None)]
        );
        // A compact array of evtx_dump's records, one cut inside a string, one between tokens.
        let compact = r#"[{"Event":{"a":"x"}},{"Event":{"a":"cut he{"Event":{"b":1}},{"Event":{"c":{"Event":{"d":2}}]"#;
        assert_eq!(
            docs(Syntax::Json, compact),
            vec![
                (1, 1, None),
                (1, 1, cut),
                (1, 1, None),
                (1, 1, cut),
                (1, 1, None)
            ]
        );
        // A pretty array: its records at the array's indent, nested objects deeper.
        let array = "[\n  {\n    \"a\": [\n      {\n        \"x\": 1\n      }\n    ],\n    \"b\": {\n  {\n    \"c\": 2\n  }\n]\n";
        assert_eq!(docs(Syntax::Json, array), vec![(2, 7, cut), (9, 3, None)]);
        // XML: one event a line, and evtx_dump's, each cut before its end.
        let lines =
            "<Event xmlns='x'><System><EventID>1</EventID>\n<Event xmlns='x'><System/></Event>\n";
        assert_eq!(
            docs(Syntax::EventXml, lines),
            vec![(1, 1, cut), (2, 1, None)]
        );
        // An `<Event>` element of the event's own (LanguagePackSetup's UserData) is no cut.
        let nested = "<Event xmlns='x'><UserData><Event><A>1</A></Event></UserData></Event>\n<Event>\n  <UserData>\n    <Event>1</Event>\n  </UserData>\n</Event>\n";
        assert_eq!(
            docs(Syntax::EventXml, nested),
            vec![(1, 1, None), (2, 5, None)]
        );
        // Cut inside an attribute's value.
        let lines =
            "<Event xmlns='x'><System><Data Name='Targ\n<Event xmlns='x'><System/></Event>\n";
        assert_eq!(
            docs(Syntax::EventXml, lines),
            vec![(1, 1, cut), (2, 1, None)]
        );
        let dumped = "Record 1\n<?xml version=\"1.0\"?>\n<Event>\n  <System>\nRecord 2\n<?xml version=\"1.0\"?>\n<Event>\n</Event>\n";
        assert_eq!(
            docs(Syntax::EventXml, dumped),
            vec![(3, 4, cut), (7, 2, None)]
        );
    }

    /// A line fed in pieces (as the reader's buffer holds it) is cut as when fed whole: a tag,
    /// the `<Event` that starts a record, filler, a string, may straddle two pieces.
    #[test]
    fn lines_in_pieces_are_cut_as_whole_lines() {
        let event =
            "<Event xmlns='x'><System><Data Name='a'><![CDATA[</Event>]]></Data></System></Event>";
        let texts = [
            format!("<?xml version=\"1.0\"?><Events>{event}{event}<!-- c -->{event}</Events>\n"),
            format!("Record 1\n<?xml version=\"1.0\"?>\n{event}\nnot filler\n{event}"),
            // Cut records: another `<Event` inside one, on its line and on the next.
            format!("<Event a><System><Data Name='x{event}\n<Event b><System>\n{event}\n"),
            "[{\"a\":\"}{\\\"\"},{\"b\":[1,{}]}, {\"c\":\n1}]\n".to_string(),
            "Record 1\n{\n  \"a\": 1\n}\nRecord 2\n{\n  \"b\": \"x\ny\"\n{\n  \"c\": 2\n}"
                .to_string(),
            // Found by fuzzing: a banner, or a lone `{`, read in pieces inside an open record.
            "x\n<a\":[{vent>\nRecord 8\n".to_string(),
            "{\n  \"a\": {\n{\n  \"c\": 2\n}\n".to_string(),
            r#"[{"Event":{"a":"x"}},{"Event":{"a":"cut he{"Event":{"b":1}},{"Event":{"c":{"Event":{"d":2}}]"#
                .to_string(),
            // Found by fuzzing: a lone `{` after a form feed, which is space to a line's trim.
            "xxxxxxxxxx {\n  \"a\": \"b\"\n   \x0c\x0c{\n}\n".to_string(),
        ];
        for (i, text) in texts.iter().enumerate() {
            let syntax = if i < 3 {
                Syntax::EventXml
            } else {
                Syntax::Json
            };
            let whole = split(syntax, text);
            for size in [1, 2, 3, 5, 7, 64] {
                let mut s = Splitter::new(syntax);
                let mut n = 0;
                for (l, line) in text.split_inclusive('\n').enumerate() {
                    n = l as u64 + 1;
                    let bytes = line.as_bytes();
                    let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
                    for (j, piece) in pieces.iter().enumerate() {
                        let last = j + 1 == pieces.len();
                        s.push(piece, n, last && line.ends_with('\n'));
                    }
                    if !line.ends_with('\n') {
                        s.push(b"", n, true);
                    }
                }
                s.finish(n);
                let mut got = Vec::new();
                while let Some(seg) = s.pop() {
                    got.push((
                        seg.line,
                        seg.span,
                        String::from_utf8_lossy(&seg.bytes).into_owned(),
                        seg.document,
                        seg.cut,
                    ));
                }
                assert_eq!(got, whole, "text {i} in pieces of {size}");
            }
        }
    }

    #[test]
    fn a_document_past_the_limit_is_cut_and_reading_goes_on() {
        let long = "x".repeat(MAX_DOCUMENT + 10);
        let text = format!("{{\"a\":\"{long}\"}}\n{{\"b\":1}}\n");
        let got = split(Syntax::Json, &text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].4, Some(Cut::TooLong));
        assert!(got[0].2.len() <= 256);
        assert_eq!((got[1].0, &got[1].2[..], got[1].4), (2, "{\"b\":1}", None));
    }

    #[test]
    fn xml_events_one_per_line_indented_or_all_on_one_line() {
        let event = |id: u32| {
            format!(
                "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>{id}</EventID></System><EventData><Data Name='Event'>a</Data><Data Name=\"x\"><![CDATA[</Event>]]></Data><!-- </Event> --><Data Name='q' v='>'/></EventData></Event>"
            )
        };
        let one_line = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Events>{}{}</Events>\n",
            event(1),
            event(2)
        );
        let got = split(Syntax::EventXml, &one_line);
        let docs: Vec<_> = got.iter().filter(|s| s.3).map(|s| s.2.clone()).collect();
        assert_eq!(docs, vec![event(1), event(2)]);
        for s in got.iter().filter(|s| !s.3) {
            assert!(is_filler(Syntax::EventXml, s.2.as_bytes()), "{:?}", s.2);
        }
        // evtx_dump -o xml: a banner, a declaration, the event indented over lines.
        let dumped = "Record 7\n<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event xmlns=\"x\">\n  <System>\n    <EventID\n      >4</EventID>\n  </System>\n</Event>\nRecord 8\n";
        let got = split(Syntax::EventXml, dumped);
        let docs: Vec<_> = got.iter().filter(|s| s.3).map(|s| (s.0, s.1)).collect();
        assert_eq!(docs, vec![(3, 6)]);
        assert!(
            got.iter()
                .filter(|s| !s.3)
                .all(|s| is_filler(Syntax::EventXml, s.2.as_bytes()))
        );
        assert!(!is_filler(Syntax::EventXml, b"<Other/>"));
        assert_eq!(find_event_start(b"<EventData><Event>"), Some(11));
    }

    #[test]
    fn the_first_document_is_found_in_a_head() {
        assert_eq!(
            first_document(Syntax::Json, "Record 1\n{\n \"a\": 1\n}\n{\"b\""),
            Some("{\n \"a\": 1\n}".into())
        );
        // A few lines of a tool's messages before it; not more.
        assert_eq!(
            first_document(Syntax::Json, "hello\n{\"a\":1}\n"),
            Some("{\"a\":1}".into())
        );
        assert_eq!(
            first_document(Syntax::Json, "a\nb\nc\nd\n{\"a\":1}\n"),
            None
        );
        assert_eq!(first_document(Syntax::Json, "{\"a\": "), None);
        assert_eq!(
            first_document(Syntax::EventXml, "<?xml?>\n<Event><System/></Event>"),
            Some("<Event><System/></Event>".into())
        );
    }
}
