//! The creation time of an OpenPGP detached signature (RFC 4880 / RFC 9580), read from the
//! binary packets pacman keeps beside a sync database (`core.db.sig`). Pure and defensive:
//! any input gives an answer or `None`, never a panic.
//!
//! Only what is needed is parsed: packet framing (old and new format), signature packets of
//! version 3 (creation time in the body), 4, 5 and 6 (creation time in the *hashed*
//! subpacket area, which the signature covers). The signature itself is not verified here:
//! pacman verified it when it downloaded the database.

/// The newest creation time (seconds since the epoch) of the signature packets in `bytes`,
/// or `None` when there is no readable signature packet (an armored file, garbage).
pub fn creation_time(bytes: &[u8]) -> Option<u64> {
    let mut rest = bytes;
    let mut newest = None;
    while let Some((tag, body, next)) = packet(rest) {
        if tag == 2
            && let Some(t) = signature_time(body)
        {
            newest = newest.max(Some(t));
        }
        rest = next;
    }
    newest
}

/// One packet: (tag, body, what follows). `None` at the end or on malformed framing.
fn packet(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&first, rest) = data.split_first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let (tag, len, rest) = if first & 0x40 != 0 {
        let tag = first & 0x3f;
        let (&o1, rest) = rest.split_first()?;
        match o1 {
            0..=191 => (tag, usize::from(o1), rest),
            192..=223 => {
                let (&o2, rest) = rest.split_first()?;
                (
                    tag,
                    ((usize::from(o1) - 192) << 8) + usize::from(o2) + 192,
                    rest,
                )
            }
            255 => {
                let (n, rest) = be(rest, 4)?;
                (tag, n, rest)
            }
            // Partial body lengths are not used for signature packets.
            _ => return None,
        }
    } else {
        let tag = (first >> 2) & 0x0f;
        match first & 0x03 {
            0 => {
                let (n, rest) = be(rest, 1)?;
                (tag, n, rest)
            }
            1 => {
                let (n, rest) = be(rest, 2)?;
                (tag, n, rest)
            }
            2 => {
                let (n, rest) = be(rest, 4)?;
                (tag, n, rest)
            }
            _ => (tag, rest.len(), rest),
        }
    };
    if len > rest.len() {
        return None;
    }
    let (body, next) = rest.split_at(len);
    Some((tag, body, next))
}

/// A big-endian number of `n` bytes, and what follows.
fn be(data: &[u8], n: usize) -> Option<(usize, &[u8])> {
    if data.len() < n {
        return None;
    }
    let (num, rest) = data.split_at(n);
    let v = num.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Some((usize::try_from(v).ok()?, rest))
}

/// The creation time of one signature packet body.
fn signature_time(body: &[u8]) -> Option<u64> {
    match *body.first()? {
        3 => {
            // version, hashed length (5), type, time (4), ...
            let t = body.get(3..7)?;
            Some(u64::from(u32::from_be_bytes(t.try_into().ok()?)))
        }
        v @ 4..=6 => {
            // version, type, public-key algorithm, hash algorithm, hashed area length
            // (2 octets; 4 in version 6), hashed subpackets.
            let width = if v == 6 { 4 } else { 2 };
            let (len, rest) = be(body.get(4..)?, width)?;
            hashed_creation_time(rest.get(..len)?)
        }
        _ => None,
    }
}

/// Subpacket 2 (signature creation time) of a hashed subpacket area.
fn hashed_creation_time(mut area: &[u8]) -> Option<u64> {
    while let Some((&o1, rest)) = area.split_first() {
        let (len, rest) = match o1 {
            0..=191 => (usize::from(o1), rest),
            192..=254 => {
                let (&o2, rest) = rest.split_first()?;
                (((usize::from(o1) - 192) << 8) + usize::from(o2) + 192, rest)
            }
            255 => be(rest, 4)?,
        };
        if len == 0 || len > rest.len() {
            return None;
        }
        let (sub, next) = rest.split_at(len);
        if sub[0] & 0x7f == 2 && sub.len() == 5 {
            return Some(u64::from(u32::from_be_bytes(sub[1..5].try_into().ok()?)));
        }
        area = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 4 signature packet body with the given hashed subpackets.
    fn v4(hashed: &[u8]) -> Vec<u8> {
        let mut b = vec![4, 0x00, 22, 10];
        b.extend_from_slice(&u16::try_from(hashed.len()).unwrap().to_be_bytes());
        b.extend_from_slice(hashed);
        b.extend_from_slice(&[0, 0, 0xab, 0xcd]); // no unhashed area, hash prefix
        b.extend_from_slice(&[0, 8, 1]); // an MPI stub
        b
    }

    fn new_format(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc0 | tag];
        let n = body.len();
        if n < 192 {
            p.push(u8::try_from(n).unwrap());
        } else {
            p.push(255);
            p.extend_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
        }
        p.extend_from_slice(body);
        p
    }

    fn time_sub(t: u32) -> Vec<u8> {
        let mut s = vec![5, 2];
        s.extend_from_slice(&t.to_be_bytes());
        s
    }

    #[test]
    fn reads_v4_new_and_old_format() {
        let mut hashed = vec![2, 27, 0x03]; // key flags first
        hashed.extend(time_sub(1_795_000_000));
        let body = v4(&hashed);
        assert_eq!(creation_time(&new_format(2, &body)), Some(1_795_000_000));
        let mut old = vec![0x88, u8::try_from(body.len()).unwrap()];
        old.extend_from_slice(&body);
        assert_eq!(creation_time(&old), Some(1_795_000_000));
    }

    #[test]
    fn takes_the_newest_of_several_signatures() {
        let mut two = new_format(2, &v4(&time_sub(100)));
        two.extend(new_format(2, &v4(&time_sub(300))));
        two.extend(new_format(2, &v4(&time_sub(200))));
        assert_eq!(creation_time(&two), Some(300));
    }

    #[test]
    fn garbage_gives_none_and_never_panics() {
        assert_eq!(creation_time(b""), None);
        assert_eq!(creation_time(b"-----BEGIN PGP SIGNATURE-----\n"), None);
        assert_eq!(creation_time(&new_format(6, &[4, 0, 0, 0])), None);
        let good = new_format(2, &v4(&time_sub(7)));
        for cut in 0..good.len() {
            let _ = creation_time(&good[..cut]);
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = creation_time(&bad);
        }
    }

    #[test]
    fn reads_a_gpg_signature() {
        // `gpg --faked-system-time 20261130T120000! --detach-sign` by an ed25519 key: an
        // old-format packet with the creation time in the hashed area, as pacman keeps it.
        let sig = include_bytes!("testdata/gpg-20261130T120000Z.sig");
        assert_eq!(creation_time(sig), Some(1_796_040_000));
    }
}
