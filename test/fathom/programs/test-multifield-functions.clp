(deftemplate doc (slot id) (multislot tags))
(defrule many (doc (id ?i) (tags $?t)) (test (> (length$ ?t) 1)) => (printout t ?i " tags " (length$ ?t) " first " (nth$ 1 ?t) crlf))
(defrule has-x (doc (id ?i) (tags $?t&:(member$ x ?t))) => (printout t ?i " has x at " (member$ x ?t) crlf))
(defrule sub (doc (id ?i) (tags $?t)) (test (eq (subseq$ ?t 1 2) (create$ a b))) => (printout t ?i " starts a b" crlf))
;;; script
(assert (doc (id 1) (tags a b c)) (doc (id 2) (tags x)) (doc (id 3) (tags y x a)) (doc (id 4)))
(run)
